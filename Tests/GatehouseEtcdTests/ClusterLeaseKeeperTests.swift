import GatehouseEtcd
import Testing

/// The session's lease timing, on a manual clock: keepalives every TTL/3,
/// retries while the lease is valid, and expiry judged from when the last
/// confirmed keepalive was sent, never later than etcd's own.
@Suite struct ClusterLeaseKeeperTests {
    @Test func keepsAliveEveryThirdOfTheTTL() {
        var keeper = LeaseKeeper(ttl: .seconds(9), grantedAt: .seconds(100))
        #expect(keeper.next(at: .seconds(100)) == .keepAlive(at: .seconds(103)))
        #expect(keeper.next(at: .seconds(105)) == .keepAlive(at: .seconds(105)), "a late wake-up sends at once")
        #expect(keeper.renewed(sentAt: .seconds(103), remaining: 9) == .keepAlive(at: .seconds(106)))
        #expect(keeper.validUntil == .seconds(112))
    }

    @Test func expiryCountsFromWhenTheConfirmedKeepaliveWasSent() {
        var keeper = LeaseKeeper(ttl: .seconds(9), grantedAt: .zero)
        // Answered late (at 5 s), but etcd restarted its timer no earlier than the send at 3 s.
        _ = keeper.renewed(sentAt: .seconds(3), remaining: 9)
        #expect(keeper.validUntil == .seconds(12))
        #expect(keeper.next(at: .milliseconds(11_999)) != .expired)
        #expect(keeper.next(at: .seconds(12)) == .expired)
    }

    @Test func failuresAreRetriedUntilTheLeaseMayHaveExpired() {
        let keeper = LeaseKeeper(ttl: .seconds(9), grantedAt: .zero, retryInterval: .milliseconds(500))
        #expect(keeper.failed(at: .seconds(3)) == .keepAlive(at: .milliseconds(3_500)))
        #expect(keeper.failed(at: .milliseconds(8_800)) == .keepAlive(at: .seconds(9)), "never retried past the lease's end")
        #expect(keeper.failed(at: .seconds(9)) == .expired)
    }

    @Test func etcdSayingTheLeaseIsGoneExpiresItAtOnce() {
        var keeper = LeaseKeeper(ttl: .seconds(9), grantedAt: .zero)
        #expect(keeper.renewed(sentAt: .seconds(3), remaining: 0) == .expired)
        #expect(keeper.next(at: .seconds(3)) == .expired)
    }

    @Test func aLateAnswerNeverShortensTheLease() {
        var keeper = LeaseKeeper(ttl: .seconds(9), grantedAt: .zero)
        _ = keeper.renewed(sentAt: .seconds(6), remaining: 9)
        // An older keepalive's answer arriving after the newer one.
        _ = keeper.renewed(sentAt: .seconds(3), remaining: 9)
        #expect(keeper.validUntil == .seconds(15))
        #expect(keeper.lastRenewal == .seconds(6))
    }
}
