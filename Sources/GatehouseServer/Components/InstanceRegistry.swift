import GatehouseCore
import Synchronization

/// Every instance that registered or subscribed since the server started:
/// who it is, whether it is connected, which revision it was pushed and applied.
///
/// Kept in memory: an instance's open subscription is its liveness, so after
/// a restart the registry fills again as instances reconnect (the SDK
/// retries within its backoff). The catalog part of a registration, which
/// features a binary knows, is what outlives a restart.
final class InstanceRegistry: Sendable {
    struct Key: Hashable, Sendable, Comparable {
        var component: String
        var instanceID: String

        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.component, lhs.instanceID) < (rhs.component, rhs.instanceID)
        }
    }

    struct Nack: Sendable, Hashable {
        var revision: Revision
        var reason: String
        var message: String
        var entries: [String]
        var timeUnixMilliseconds: Int64
    }

    struct Record: Sendable {
        var key: Key
        var version: String
        /// `version` parsed once, for the skew guard that reads every live instance per change.
        var parsedVersion: Version?
        var labels: [String: String] = [:]
        /// The certificate CN it last called with.
        var identity: String
        var registeredAtUnixMilliseconds: Int64
        var lastSeenUnixMilliseconds: Int64
        /// Open subscriptions that count as liveness (not watch-only ones).
        var subscriptions = 0
        var appliedRevision = Revision.zero
        var pushedRevision = Revision.zero
        /// Newest first, at most ``InstanceRegistry/nacksKept``.
        var nacks: [Nack] = []
        /// Whether the latest ack was a NACK.
        var failing = false
        var knownFeatures: [String] = []
        var knownAPIs: [APIRef] = []

        var connected: Bool { self.subscriptions > 0 }

        var instance: InstanceRef {
            InstanceRef(component: self.key.component, instanceID: self.key.instanceID, version: self.parsedVersion)
        }
    }

    static let nacksKept = 8

    /// The records, and the live replicas indexed for the skew guard: rebuilt
    /// only after a replica connects, disconnects or changes version, not on
    /// every change committed (acks and pushes leave it alone).
    private struct State {
        var records: [Key: Record] = [:]
        var live: LiveReplicas?
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Int64

    init(now: @escaping @Sendable () -> Int64) {
        self.now = now
    }

    /// Records or refreshes a registration: version, labels and what its binary knows.
    func register(_ instance: InstanceRef, labels: [String: String], identity: String, features: [String], apis: [APIRef]) {
        self.update(instance, identity: identity) { record in
            record.labels = labels
            record.knownFeatures = features
            record.knownAPIs = apis
        }
    }

    /// A live subscription opened; undone by ``unsubscribed(_:)``.
    func subscribed(_ instance: InstanceRef, identity: String) {
        self.update(instance, identity: identity) { $0.subscriptions += 1 }
    }

    func unsubscribed(_ key: Key) {
        self.modify(key) { record, now in
            record.subscriptions = max(0, record.subscriptions - 1)
            record.lastSeenUnixMilliseconds = now
        }
    }

    func pushed(_ key: Key, revision: Revision) {
        self.modify(key) { record, _ in record.pushedRevision = max(record.pushedRevision, revision) }
    }

    func acked(_ key: Key, revision: Revision) {
        self.modify(key) { record, now in
            record.appliedRevision = max(record.appliedRevision, revision)
            record.failing = false
            record.lastSeenUnixMilliseconds = now
        }
    }

    func nacked(_ key: Key, _ nack: Nack) {
        self.modify(key) { record, now in
            var nack = nack
            nack.timeUnixMilliseconds = now
            record.nacks.insert(nack, at: 0)
            record.nacks = Array(record.nacks.prefix(Self.nacksKept))
            record.failing = true
            record.lastSeenUnixMilliseconds = now
        }
    }

    /// Records sorted by component then instance id.
    func list(component: String? = nil, connectedOnly: Bool = false) -> [Record] {
        self.state.withLock { state in
            state.records.values.filter { record in
                (component == nil || record.key.component == component) && (!connectedOnly || record.connected)
            }
        }.sorted { $0.key < $1.key }
    }

    /// The connected instances, indexed for the version-skew guard; the same
    /// value until one connects, disconnects or changes version.
    func liveReplicas() -> LiveReplicas {
        self.state.withLock { state in
            if let live = state.live { return live }
            let live = LiveReplicas(state.records.values.filter(\.connected).map(\.instance))
            state.live = live
            return live
        }
    }

    private func update(_ instance: InstanceRef, identity: String, _ body: (inout Record) -> Void) {
        let now = self.now()
        let key = Key(component: instance.component, instanceID: instance.instanceID)
        self.state.withLock { state in
            let previous = state.records[key]
            var record = previous ?? Record(
                key: key,
                version: "",
                identity: identity,
                registeredAtUnixMilliseconds: now,
                lastSeenUnixMilliseconds: now
            )
            if let version = instance.version {
                record.version = version.description
                record.parsedVersion = version
            }
            record.identity = identity
            record.lastSeenUnixMilliseconds = now
            body(&record)
            if previous?.connected != record.connected || previous?.parsedVersion != record.parsedVersion { state.live = nil }
            state.records[key] = record
        }
    }

    private func modify(_ key: Key, _ body: (inout Record, Int64) -> Void) {
        let now = self.now()
        self.state.withLock { state in
            // In place: every push and ack lands here, and a record copied out and back costs two hashes and its fields' retains.
            guard let index = state.records.index(forKey: key) else { return }
            let wasConnected = state.records.values[index].connected
            body(&state.records.values[index], now)
            if state.records.values[index].connected != wasConnected { state.live = nil }
        }
    }
}
