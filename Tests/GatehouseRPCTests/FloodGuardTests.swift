import NIOCore
import Testing

@testable import GatehouseRPC

/// PINGs and cancelled calls per window, with time passed in.
@Suite struct FloodGuardTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func allowsTheLimitInAWindowAndRefusesOneMore() {
        var guardian = FloodGuard(window: .seconds(10), maxPings: 3, maxCancels: 2, now: self.start)
        for second in 0..<3 {
            #expect(guardian.record(.ping, now: self.start + .seconds(Int64(second))) == .allowed)
        }
        #expect(guardian.record(.ping, now: self.start + .seconds(9)) == .tooMany("too many PINGs: more than 3 in 10 s"))
    }

    @Test func aNewWindowStartsAfresh() {
        var guardian = FloodGuard(window: .seconds(10), maxPings: 2, maxCancels: 2, now: self.start)
        #expect(guardian.record(.ping, now: self.start) == .allowed)
        #expect(guardian.record(.ping, now: self.start + .seconds(1)) == .allowed)
        #expect(guardian.record(.ping, now: self.start + .seconds(10)) == .allowed, "the first window is over")
        #expect(guardian.record(.ping, now: self.start + .seconds(11)) == .allowed)
        if case .allowed = guardian.record(.ping, now: self.start + .seconds(12)) {
            Issue.record("a third PING in the second window must be refused")
        }
    }

    @Test func countsPingsAndCancelsApart() {
        var guardian = FloodGuard(window: .seconds(10), maxPings: 1, maxCancels: 2, now: self.start)
        #expect(guardian.record(.ping, now: self.start) == .allowed)
        #expect(guardian.record(.cancel, now: self.start) == .allowed)
        #expect(guardian.record(.cancel, now: self.start) == .allowed)
        #expect(guardian.record(.cancel, now: self.start) == .tooMany("too many cancelled calls: more than 2 CANCEL frames in 10 s"))
    }
}
