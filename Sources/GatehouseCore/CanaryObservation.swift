/// What the server knows about one canary when it judges a rollout: built by
/// the rollout driver from the instance registry, judged by ``RolloutMachine``.
///
/// Plain values, so the machine stays pure and tests build them by hand.
public struct CanaryObservation: Hashable, Sendable {
    public var instanceID: String
    /// Its bucket in the rollout (``Rollout/bucket(of:)``).
    public var bucket: Double
    /// The highest revision it acked; `.zero` when none.
    public var ackedRevision: Revision
    /// Its latest NACK, if any.
    public var nack: Nack?
    /// Its latest health report, if it sent one.
    public var health: Health?
    /// Whether it has an open subscription now.
    public var connected: Bool
    /// When it last disconnected (nil while connected, or when the server has not seen it go since it started).
    public var disconnectedAt: UnixMilliseconds?

    public init(
        instanceID: String,
        bucket: Double,
        ackedRevision: Revision = .zero,
        nack: Nack? = nil,
        health: Health? = nil,
        connected: Bool = true,
        disconnectedAt: UnixMilliseconds? = nil
    ) {
        self.instanceID = instanceID
        self.bucket = bucket
        self.ackedRevision = ackedRevision
        self.nack = nack
        self.health = health
        self.connected = connected
        self.disconnectedAt = disconnectedAt
    }

    /// A revision the instance could not apply, and why (its reason, e.g. `UNKNOWN_FEATURE`).
    public struct Nack: Hashable, Sendable {
        public var revision: Revision
        public var reason: String

        public init(revision: Revision, reason: String) {
            self.revision = revision
            self.reason = reason
        }
    }

    /// The application's own judgement (a `HealthReport`).
    public struct Health: Hashable, Sendable {
        public var healthy: Bool
        /// Feature names or `group/version[/resource]` it blames; empty blames the instance as a whole.
        public var entries: [String]
        public var message: String

        public init(healthy: Bool, entries: [String] = [], message: String = "") {
            self.healthy = healthy
            self.entries = entries
            self.message = message
        }
    }
}

/// How ``RolloutMachine`` judged one canary: what Rollouts/Get shows per canary.
public struct CanaryVerdict: Hashable, Sendable {
    public var instanceID: String
    public var bucket: Double
    public var state: State
    /// Whether it acked the step's revision (or a later one).
    public var acked: Bool
    /// Why it is unhealthy or not counted, for people ("NACK r41 UNKNOWN_FEATURE"); empty when healthy.
    public var message: String

    public enum State: String, Hashable, Sendable {
        /// Acked the step's revision and is healthy.
        case healthy
        /// Healthy so far but has not acked the step's revision yet.
        case pending
        /// Counts against the step's `maxUnhealthy`.
        case unhealthy
        /// Disconnected since before the step began: counted neither way.
        case ignored
    }

    public init(instanceID: String, bucket: Double, state: State, acked: Bool, message: String = "") {
        self.instanceID = instanceID
        self.bucket = bucket
        self.state = state
        self.acked = acked
        self.message = message
    }
}
