import NIOCore
import Testing

@testable import GatehouseRPC

/// Keepalive and idle rules, with time passed in.
@Suite struct KeepaliveStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func pingsASilentPeerThenGivesUp() {
        var machine = KeepaliveStateMachine(interval: .seconds(30), idleTimeout: .seconds(300), now: self.start)
        machine.openCallsChanged(hasOpenCalls: true, now: self.start)
        #expect(machine.tick(now: self.start + .seconds(29)) == .none)
        #expect(machine.tick(now: self.start + .seconds(30)) == .sendPing)
        #expect(machine.tick(now: self.start + .seconds(45)) == .none, "waiting for the answer")
        #expect(machine.tick(now: self.start + .seconds(60)) == .closeUnresponsive)
    }

    @Test func anyFrameCountsAsAnAnswer() {
        var machine = KeepaliveStateMachine(interval: .seconds(30), idleTimeout: .seconds(300), now: self.start)
        machine.openCallsChanged(hasOpenCalls: true, now: self.start)
        #expect(machine.tick(now: self.start + .seconds(30)) == .sendPing)
        machine.frameReceived(now: self.start + .seconds(31))
        #expect(machine.tick(now: self.start + .seconds(60)) == .none)
        #expect(machine.tick(now: self.start + .seconds(61)) == .sendPing)
    }

    @Test func closesAConnectionWithoutCallsAfterTheIdleTimeout() {
        var machine = KeepaliveStateMachine(interval: .seconds(30), idleTimeout: .seconds(100), now: self.start)
        machine.frameReceived(now: self.start + .seconds(90))
        #expect(machine.tick(now: self.start + .seconds(99)) == .none)
        #expect(machine.tick(now: self.start + .seconds(100)) == .closeIdle)
    }

    @Test func anOpenCallKeepsTheConnectionFromBeingIdle() {
        var machine = KeepaliveStateMachine(interval: .seconds(30), idleTimeout: .seconds(100), now: self.start)
        machine.openCallsChanged(hasOpenCalls: true, now: self.start + .seconds(10))
        machine.frameReceived(now: self.start + .seconds(190))
        #expect(machine.tick(now: self.start + .seconds(200)) == .none)
        machine.openCallsChanged(hasOpenCalls: false, now: self.start + .seconds(200))
        machine.frameReceived(now: self.start + .seconds(240))
        #expect(machine.tick(now: self.start + .seconds(250)) == .none)
        #expect(machine.tick(now: self.start + .seconds(300)) == .closeIdle)
    }

    /// PINGs prove the peer alive but are not calls: an idle connection that pings is still idle.
    @Test func pingsDoNotKeepAnIdleConnectionOpen() {
        var machine = KeepaliveStateMachine(interval: .seconds(30), idleTimeout: .seconds(60), now: self.start)
        for second in stride(from: 10, to: 60, by: 10) {
            machine.frameReceived(now: self.start + .seconds(Int64(second)))
            #expect(machine.tick(now: self.start + .seconds(Int64(second))) == .none)
        }
        #expect(machine.tick(now: self.start + .seconds(60)) == .closeIdle)
    }
}
