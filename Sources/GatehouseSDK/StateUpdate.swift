/// One change of the component's effective state, as the handler and `changes` see it.
public struct StateUpdate: Sendable {
    /// Why the state changed.
    public enum Source: Hashable, Sendable {
        /// A snapshot or delta the server pushed; acked once the handler returns.
        case server
        /// The offline policy started failing closed (stale past the TTL) or stopped (a server is back).
        case offlinePolicy
        /// No server answered within the boot deadline: the component starts from this.
        case boot(BootSource)
    }

    public let source: Source
    /// The revision of the state after the update.
    public let revision: UInt64
    /// Features whose state or parameters changed, sorted by name.
    public let features: [FeatureChange]
    /// APIs whose state changed, sorted.
    public let apis: [APIChange]
    /// The whole state after the update: what reads return once the handler has returned.
    public let snapshot: StateSnapshot

    /// True when no entry changed (the revision or staleness may have).
    public var isEmpty: Bool { self.features.isEmpty && self.apis.isEmpty }
}

/// One feature before and after an update; nil when it did not (or no longer does) exist.
public struct FeatureChange: Hashable, Sendable {
    public let name: String
    public let before: FeatureState?
    public let after: FeatureState?
}

/// One API before and after an update, keyed as in `StateSnapshot.apis`.
public struct APIChange: Hashable, Sendable {
    public let api: String
    public let before: APIState?
    public let after: APIState?
}
