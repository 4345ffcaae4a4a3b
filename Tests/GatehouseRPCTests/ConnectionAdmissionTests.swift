import NIOCore
import Testing

@testable import GatehouseRPC

/// The counting behind the connection limits, as a value: no sockets.
struct ConnectionAdmissionTests {
    static func admission(handshakes: Int = 4, connections: Int = 10, reserved: Int = 2) -> ConnectionAdmission {
        ConnectionAdmission(limits: .init(maxHandshakes: handshakes, maxConnections: connections, reservedConnections: reserved))
    }

    @Test func handshakesAndAuthenticatedConnectionsAreCountedApart() {
        var admission = Self.admission()
        for id in 0..<3 as Range<UInt64> { #expect(admission.accepted(id) == .admit) }
        #expect(admission.handshakingCount == 3)
        #expect(admission.authenticated(1, privileged: false) == .admit)
        #expect(admission.handshakingCount == 2)
        #expect(admission.authenticatedCount == 1)
        admission.closed(1)
        admission.closed(0)
        #expect(admission.handshakingCount == 1)
        #expect(admission.authenticatedCount == 0)
    }

    @Test func aFullHandshakeStageDropsTheOldestSilentHandshakeFirst() {
        var admission = Self.admission(handshakes: 3)
        for id in 0..<3 as Range<UInt64> { _ = admission.accepted(id) }
        admission.spoke(0)  // the oldest is a real client, mid-handshake
        #expect(admission.accepted(3) == .admitDropping(1))
        #expect(admission.accepted(4) == .admitDropping(2))
        #expect(admission.handshakingCount == 3)
        // 0 spoke; 3 and 4 are silent: 3 goes next, 0 still stays.
        #expect(admission.accepted(5) == .admitDropping(3))
        admission.spoke(4)
        admission.spoke(5)
        // Nothing silent is left: the oldest overall goes.
        #expect(admission.accepted(6) == .admitDropping(0))
        #expect(admission.handshakingCount == 3)
    }

    @Test func aDroppedHandshakeNoLongerCountsAndCannotAuthenticate() {
        var admission = Self.admission(handshakes: 1)
        _ = admission.accepted(0)
        #expect(admission.accepted(1) == .admitDropping(0))
        #expect(admission.authenticated(0, privileged: true) == .unknown)
        admission.closed(0)  // its close arrives later: counts nothing twice
        #expect(admission.handshakingCount == 1)
        #expect(admission.authenticated(1, privileged: false) == .admit)
    }

    @Test func theReservedShareIsLeftToPrivilegedIdentities() {
        var admission = Self.admission(handshakes: 100, connections: 5, reserved: 2)
        for id in 0..<8 as Range<UInt64> { _ = admission.accepted(id) }
        for id in 0..<3 as Range<UInt64> { #expect(admission.authenticated(id, privileged: false) == .admit) }
        #expect(admission.authenticated(3, privileged: false) == .refuse(.unreservedLimit(unreserved: 3, reserved: 2)))
        #expect(admission.authenticated(4, privileged: true) == .admit)
        #expect(admission.authenticated(5, privileged: true) == .admit)
        #expect(admission.authenticated(6, privileged: true) == .refuse(.connectionLimit(5)))
        #expect(admission.authenticatedCount == 5)
        #expect(admission.privilegedCount == 2)
        // An ordinary connection closing frees an ordinary place, which a privileged one may also take.
        admission.closed(0)
        for id in 8..<10 as Range<UInt64> { _ = admission.accepted(id) }
        #expect(admission.authenticated(8, privileged: true) == .admit)
        #expect(admission.privilegedCount == 3)
        #expect(admission.authenticated(9, privileged: false) == .refuse(.unreservedLimit(unreserved: 3, reserved: 2)))
        admission.closed(8)
        admission.closed(4)
        #expect(admission.privilegedCount == 1)
        #expect(admission.authenticatedCount == 3)
    }

    @Test func privilegedConnectionsDoNotShrinkTheUnreservedShare() {
        var admission = Self.admission(handshakes: 100, connections: 6, reserved: 2)
        for id in 0..<10 as Range<UInt64> { _ = admission.accepted(id) }
        #expect(admission.authenticated(0, privileged: true) == .admit)
        for id in 1..<5 as Range<UInt64> { #expect(admission.authenticated(id, privileged: false) == .admit) }
        #expect(admission.authenticated(5, privileged: false) == .refuse(.unreservedLimit(unreserved: 4, reserved: 2)))
        #expect(admission.authenticated(6, privileged: true) == .admit)
        #expect(admission.authenticated(7, privileged: true) == .refuse(.connectionLimit(6)))
    }

    @Test func theRefusalSaysWhatToDo() {
        let refusal = ConnectionAdmission.Refusal.unreservedLimit(unreserved: 3, reserved: 2)
        #expect(refusal.description.contains("all 3 connections"))
        #expect(refusal.description.contains("retry later"))
    }
}

/// At most one refusal line per interval, and no refusal lost from the counts.
struct RefusalLogThrottleTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func theFirstRefusalIsLoggedAndTheNextOnesCountedUntilTheIntervalEnds() {
        var throttle = RefusalLogThrottle(interval: .seconds(10))
        #expect(throttle.refused(.handshakeDropped, now: Self.start) == .log(suppressed: [:]))
        #expect(throttle.refused(.handshakeDropped, now: Self.start + .seconds(1)) == .suppress(flushAt: Self.start + .seconds(10)))
        for offset in 2..<9 as Range<Int64> {
            #expect(throttle.refused(offset.isMultiple(of: 2) ? .handshakeDropped : .connectionLimit, now: Self.start + .seconds(offset)) == .suppress(flushAt: nil))
        }
        #expect(throttle.suppressedCount == 8)
        #expect(throttle.flush(now: Self.start + .seconds(10)) == [.handshakeDropped: 5, .connectionLimit: 3])
        #expect(throttle.suppressedCount == 0)
        // The summary was a line: the interval starts again from it.
        #expect(throttle.refused(.draining, now: Self.start + .seconds(11)) == .suppress(flushAt: Self.start + .seconds(20)))
        #expect(throttle.refused(.draining, now: Self.start + .seconds(21)) == .log(suppressed: [.draining: 1]))
        #expect(throttle.flush(now: Self.start + .seconds(20)) == nil)
    }

    @Test func aThousandRefusalsInOneIntervalMakeTwoLines() {
        var throttle = RefusalLogThrottle(interval: .seconds(10))
        var lines = 0
        var flushes: [NIODeadline] = []
        for index in 0..<1_000 as Range<Int64> {
            switch throttle.refused(.handshakeDropped, now: Self.start + .milliseconds(index)) {
            case .log: lines += 1
            case .suppress(let flushAt): if let flushAt { flushes.append(flushAt) }
            }
        }
        for deadline in flushes where throttle.flush(now: deadline) != nil { lines += 1 }
        #expect(lines == 2)
        #expect(flushes == [Self.start + .seconds(10)])
    }
}
