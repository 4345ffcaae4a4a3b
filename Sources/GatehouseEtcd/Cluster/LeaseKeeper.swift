/// When a session's lease must be kept alive, and when, by this server's own
/// clock, it may already have expired: a value, so its timing is tested
/// without etcd or sleeping.
///
/// Conservative on purpose: a keepalive's answer extends the lease from when
/// the keepalive was *sent* (etcd's timer restarted no earlier), so the lease
/// is given up locally no later than etcd gives it up. A leader that keeps
/// leading past that moment could overlap with the next one.
public struct LeaseKeeper: Sendable, Equatable {
    /// What the session does next.
    public enum Action: Sendable, Equatable {
        /// Send one keepalive at this instant (of the monotonic clock the keeper is fed).
        case keepAlive(at: Duration)
        /// The lease may have expired: stop acting under it and grant a new one.
        case expired
    }

    /// The lease's time to live as granted.
    public let ttl: Duration
    /// Until when the lease is sure to live.
    public private(set) var validUntil: Duration
    /// When the last keepalive (or the grant) was sent.
    public private(set) var lastRenewal: Duration
    /// How soon a failed keepalive is tried again (while the lease is still valid).
    public let retryInterval: Duration

    /// - Parameters:
    ///   - ttl: the lease's time to live as granted.
    ///   - grantedAt: when the grant was sent.
    public init(ttl: Duration, grantedAt: Duration, retryInterval: Duration = .milliseconds(500)) {
        self.ttl = ttl
        self.validUntil = grantedAt + ttl
        self.lastRenewal = grantedAt
        self.retryInterval = retryInterval
    }

    /// The keepalive interval: a third of the TTL, so two keepalives may be lost before it expires.
    public var interval: Duration { self.ttl / 3 }

    /// What to do at `now`.
    public func next(at now: Duration) -> Action {
        guard now < self.validUntil else { return .expired }
        return .keepAlive(at: max(now, self.lastRenewal + self.interval))
    }

    /// A keepalive sent at `sentAt` was answered with `remaining` seconds to live (0 or less: expired).
    public mutating func renewed(sentAt: Duration, remaining seconds: Int64) -> Action {
        guard seconds > 0 else {
            self.validUntil = min(self.validUntil, sentAt)
            return .expired
        }
        self.validUntil = max(self.validUntil, sentAt + .seconds(seconds))
        self.lastRenewal = max(self.lastRenewal, sentAt)
        return self.next(at: sentAt)
    }

    /// A keepalive failed at `now` (etcd unreachable, no leader): try again soon, unless the lease may be gone.
    public func failed(at now: Duration) -> Action {
        guard now < self.validUntil else { return .expired }
        return .keepAlive(at: min(now + self.retryInterval, self.validUntil))
    }
}
