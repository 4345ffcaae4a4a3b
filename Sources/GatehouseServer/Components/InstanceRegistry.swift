import GatehouseCore
import Synchronization

/// Every instance that registered or subscribed since the server started:
/// who it is, whether it is connected, which revision it was pushed and applied.
///
/// Kept in memory, and over SQLite also in the store (``InstancePersistence``):
/// after a restart the instances known before are listed again, disconnected,
/// until they reconnect (an instance's open subscription is its liveness; the
/// SDK retries within its backoff). The catalog part of a registration, which
/// features a binary knows, is kept once per build in the gate state, not
/// once per instance here.
///
/// Bounded: at most ``Capacity/maxPerComponent`` instances per component. A
/// component at its bound makes room by forgetting the instance disconnected
/// longest, once it has been gone longer than ``Capacity/evictAfterMilliseconds``;
/// when none has, a new instance is refused (``Full``), and the instances
/// already known keep working.
///
/// Several servers over etcd share their instances (``SharedInstances``): a
/// registry made with a ``server`` id stamps its own records with it, tracks
/// which of them changed since they were last written (``takeChanges()``),
/// and merges in the other servers' records as etcd holds them (``learned(_:)``,
/// ``forgot(_:)``, ``replaceForeign(with:)``). Every view (``list(component:connectedOnly:)``,
/// ``liveReplicas()``, ``registered(component:instanceID:)``, ``record(_:)``) then shows
/// the whole fleet, one record per instance: the one that ``Record/supersedes(_:)``
/// the other. Without a server id (a single server on SQLite) none of this runs.
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

    /// An instance's own judgement of its health (`HealthReport`), as kept.
    struct Health: Sendable, Hashable {
        var healthy: Bool
        var message: String
        /// What it blames: feature names or "group/version[/resource]"; empty blames the instance as a whole.
        var entries: [String]
        /// When its check ran, on the instance's clock.
        var checkedAtUnixMilliseconds: Int64
        /// When the server received it, on the server's clock.
        var receivedAtUnixMilliseconds: Int64 = 0
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
        /// Its latest health report; nil until it sends one. Kept across reconnects: the
        /// latest word an instance said about itself stands until it says another.
        var health: Health?
        /// When its last live subscription ended; nil while connected or never connected.
        var disconnectedAtUnixMilliseconds: Int64?
        /// The server the instance is connected to (or was last), by its server id;
        /// empty on a single server with the SQLite store.
        var server = ""

        var connected: Bool { self.subscriptions > 0 }

        /// Whether this record stands for the instance rather than `other`, another
        /// server's record of the same instance (it moved between servers): a
        /// connected one over a disconnected one, then the one its server heard
        /// from last, then (a tie) the smaller server id, so every server picks the same.
        func supersedes(_ other: Record) -> Bool {
            if self.connected != other.connected { return self.connected }
            if self.lastSeenUnixMilliseconds != other.lastSeenUnixMilliseconds {
                return self.lastSeenUnixMilliseconds > other.lastSeenUnixMilliseconds
            }
            return self.server < other.server
        }

        var instance: InstanceRef {
            InstanceRef(component: self.key.component, instanceID: self.key.instanceID, version: self.parsedVersion)
        }
    }

    static let nacksKept = 8

    /// What one NACK may keep of what the instance sent: reason, message,
    /// entries and each entry, in octets (the rest is cut off).
    static let nackReasonOctets = 128
    static let nackMessageOctets = 1_024
    static let nackEntriesKept = 32
    static let nackEntryOctets = 253

    /// What one health report may keep, bounded like a NACK (the rest is cut off).
    static let healthMessageOctets = 1_024
    static let healthEntriesKept = 32
    static let healthEntryOctets = 253

    /// How many instances a component may have, and when a disconnected one may be forgotten.
    struct Capacity: Sendable, Hashable {
        var maxPerComponent: Int
        var evictAfterMilliseconds: Int64

        init(maxPerComponent: Int = 10_000, evictAfterMilliseconds: Int64 = 3_600_000) {
            self.maxPerComponent = maxPerComponent
            self.evictAfterMilliseconds = evictAfterMilliseconds
        }
    }

    /// A new instance was refused: its component has as many as it may, and none
    /// has been disconnected long enough to be forgotten.
    struct Full: Error, Hashable {
        var component: String
        var limit: Int
        /// How long until the longest-disconnected instance may be forgotten; nil when all are connected.
        var retryAfterMilliseconds: Int64?
    }

    /// The records, and the live replicas indexed for the skew guard: rebuilt
    /// only after a replica connects, disconnects or changes version, not on
    /// every change committed (acks and pushes leave it alone).
    private struct State {
        /// This server's own records.
        var records: [Key: Record] = [:]
        /// Records per component, for the capacity check.
        var counts: [String: Int] = [:]
        var live: LiveReplicas?
        /// Own records changed since ``takeChanges()`` last took them; tracked only when shared.
        var dirty: Set<Key> = []
        /// Other servers' records, as the shared directory holds them.
        var foreign: [Key: Record] = [:]

        /// The record that stands for `key`: this server's own unless another server's supersedes it.
        func effective(_ key: Key) -> Record? {
            switch (self.records[key], self.foreign[key]) {
            case (let own?, let other?): other.supersedes(own) ? other : own
            case (let own?, nil): own
            case (nil, let other?): other
            case (nil, nil): nil
            }
        }
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Int64
    let capacity: Capacity
    /// This server's id when its instances are shared with other servers over etcd; nil on a single server.
    let server: String?
    /// Whether changes of own records are tracked for ``takeChanges()``: when they are
    /// shared (``server``) or kept in the store (``InstancePersistence``).
    let tracksChanges: Bool

    /// - Parameters:
    ///   - server: this server's id when its instances are shared
    ///     (``SharedInstances``): records are stamped with it and their changes
    ///     tracked for writing. Nil (a single server): neither.
    ///   - persisted: track changes for writing to the store (``InstancePersistence``) without a server id.
    init(now: @escaping @Sendable () -> Int64, capacity: Capacity = Capacity(), server: String? = nil, persisted: Bool = false) {
        self.now = now
        self.capacity = capacity
        self.server = server
        self.tracksChanges = server != nil || persisted
    }

    /// Records or refreshes a registration: version and labels (what its
    /// binary knows goes to the catalog's build record, not here).
    /// - Throws: ``Full`` when the instance is new and its component has no room.
    func register(_ instance: InstanceRef, labels: [String: String], identity: String) throws(Full) {
        try self.update(instance, identity: identity) { record in
            record.labels = labels
        }
    }

    /// Refuses, as ``register(_:labels:identity:)`` would, a new instance its
    /// component has no room for (making room first if it can), without recording it:
    /// a registration checks this before it commits its build, and records the
    /// instance only once that is durable.
    func admit(_ instance: InstanceRef) throws(Full) {
        let now = self.now()
        let key = Key(component: instance.component, instanceID: instance.instanceID)
        try self.state.withLock { state throws(Full) in
            guard state.records[key] == nil else { return }
            try self.makeRoom(in: &state, for: key.component, now: now)
        }
    }

    /// A live subscription opened; undone by ``unsubscribed(_:)``.
    /// - Throws: ``Full`` when the instance is new and its component has no room.
    func subscribed(_ instance: InstanceRef, identity: String) throws(Full) {
        try self.update(instance, identity: identity) { record in
            record.subscriptions += 1
            record.disconnectedAtUnixMilliseconds = nil
        }
    }

    func unsubscribed(_ key: Key) {
        self.modify(key) { record, now in
            record.subscriptions = max(0, record.subscriptions - 1)
            record.lastSeenUnixMilliseconds = now
            if record.subscriptions == 0 { record.disconnectedAtUnixMilliseconds = now }
        }
    }

    /// Records the instance's latest health report, bounded like a NACK: what an
    /// instance sends is cut to ``healthMessageOctets``, ``healthEntriesKept``
    /// entries of ``healthEntryOctets`` each, never refused (the report still counts).
    /// Control characters are kept as sent and escaped wherever the text is printed.
    /// - Returns: whether the report it replaces said healthy; nil when there was none
    ///   (or the instance is not registered): the caller logs a change of verdict.
    @discardableResult
    func reportedHealth(_ key: Key, _ health: Health) -> Bool? {
        var previous: Bool?
        self.modify(key) { record, now in
            previous = record.health?.healthy
            var health = health
            health.message = RequestLimits.truncated(health.message, octets: Self.healthMessageOctets)
            health.entries = health.entries.prefix(Self.healthEntriesKept).map { RequestLimits.truncated($0, octets: Self.healthEntryOctets) }
            health.receivedAtUnixMilliseconds = now
            record.health = health
            record.lastSeenUnixMilliseconds = now
        }
        return previous
    }

    /// One instance's record (another server's when it supersedes this one's).
    func record(_ key: Key) -> Record? {
        self.state.withLock { $0.effective(key) }
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

    /// A subscription resumed (its `since_revision` accepted): the instance holds
    /// the state as of `revision`, which counts as having applied it. That is its
    /// `since_revision`, or the server's revision when the batches it missed changed
    /// nothing for it. After a server restart or a reconnect this is how an
    /// instance's applied revision is known again without a push to ack.
    func resumed(_ key: Key, holding revision: Revision) {
        self.modify(key) { record, _ in record.appliedRevision = max(record.appliedRevision, revision) }
    }

    func nacked(_ key: Key, _ nack: Nack) {
        self.modify(key) { record, now in
            var nack = nack
            nack.timeUnixMilliseconds = now
            // What an instance sends is kept eight times per instance: bounded, not refused (the ack still counts).
            nack.reason = RequestLimits.truncated(nack.reason, octets: Self.nackReasonOctets)
            nack.message = RequestLimits.truncated(nack.message, octets: Self.nackMessageOctets)
            nack.entries = nack.entries.prefix(Self.nackEntriesKept).map { RequestLimits.truncated($0, octets: Self.nackEntryOctets) }
            record.nacks.insert(nack, at: 0)
            record.nacks = Array(record.nacks.prefix(Self.nacksKept))
            record.failing = true
            record.lastSeenUnixMilliseconds = now
        }
    }

    /// Records sorted by component then instance id (every server's, when shared).
    func list(component: String? = nil, connectedOnly: Bool = false) -> [Record] {
        self.state.withLock { state in
            Self.all(state).filter { record in
                (component == nil || record.key.component == component) && (!connectedOnly || record.connected)
            }
        }.sorted { $0.key < $1.key }
    }

    /// The connected instances, indexed for the version-skew guard; the same
    /// value until one connects, disconnects or changes version (on any server, when shared).
    func liveReplicas() -> LiveReplicas {
        self.state.withLock { state in
            if let live = state.live { return live }
            let live = LiveReplicas(Self.all(state).filter(\.connected).map(\.instance))
            state.live = live
            return live
        }
    }

    /// One instance's registered version and labels, connected or not: what
    /// decides the rollouts it is a canary of (Explain, and the hub when it subscribes).
    func registered(component: String, instanceID: String) -> (version: Version?, labels: [String: String])? {
        self.state.withLock { state in
            state.effective(Key(component: component, instanceID: instanceID)).map { ($0.parsedVersion, $0.labels) }
        }
    }

    /// This server's own instances per component (what its capacity bounds).
    func count(component: String) -> Int {
        self.state.withLock { $0.counts[component] ?? 0 }
    }

    /// Every record that stands for an instance: own ones, and other servers' where they supersede them.
    private static func all(_ state: State) -> [Record] {
        guard !state.foreign.isEmpty else { return Array(state.records.values) }
        return Set(state.records.keys).union(state.foreign.keys).compactMap(state.effective)
    }

    // MARK: - Kept across a restart

    /// Takes back the records kept before a restart (``InstancePersistence``), each as
    /// disconnected since it was last seen: nothing is connected to a server that just
    /// started. An instance already known (it reconnected first) keeps its live record,
    /// and a component at its capacity takes no more. Not taken as changed: the store holds them.
    /// - Returns: how many were taken.
    @discardableResult
    func restore(_ kept: [Record]) -> Int {
        self.state.withLock { state in
            var taken = 0
            for var record in kept where state.records[record.key] == nil {
                guard (state.counts[record.key.component] ?? 0) < self.capacity.maxPerComponent else { continue }
                record.subscriptions = 0
                record.disconnectedAtUnixMilliseconds = record.disconnectedAtUnixMilliseconds ?? record.lastSeenUnixMilliseconds
                record.server = self.server ?? ""
                state.records[record.key] = record
                state.counts[record.key.component, default: 0] += 1
                taken += 1
            }
            return taken
        }
    }

    /// Forgets own records of instances disconnected (or, never connected, last seen)
    /// longer than `retentionMilliseconds` ago; a forgotten one is taken as changed (deleted).
    /// - Returns: the keys forgotten.
    @discardableResult
    func forget(disconnectedLongerThan retentionMilliseconds: Int64) -> [Key] {
        let now = self.now()
        return self.state.withLock { state in
            let old = state.records.values.filter { record in
                !record.connected && now - (record.disconnectedAtUnixMilliseconds ?? record.lastSeenUnixMilliseconds) > retentionMilliseconds
            }.map(\.key)
            for key in old { self.remove(key, in: &state) }
            return old.sorted()
        }
    }

    // MARK: - Sharing with other servers

    /// A change of this server's own records, to be written to the shared directory.
    enum Change: Sendable {
        /// Put the record.
        case put(Record)
        /// The record was forgotten (made room for another): delete its key.
        case delete(Key)

        var key: Key {
            switch self {
            case .put(let record): record.key
            case .delete(let key): key
            }
        }
    }

    /// This server's records changed since the last call, to be written to
    /// etcd; empty when not shared. A record another server's supersedes is
    /// left out (it is not written over the newer one), and so is the delete
    /// of a key another server holds.
    func takeChanges() -> [Change] {
        self.state.withLock { state in
            guard !state.dirty.isEmpty else { return [] }
            defer { state.dirty.removeAll(keepingCapacity: true) }
            return state.dirty.sorted().compactMap { key in
                switch (state.records[key], state.foreign[key]) {
                case (let own?, let other?): other.supersedes(own) ? nil : .put(own)
                case (let own?, nil): .put(own)
                case (nil, .some): nil
                case (nil, nil): .delete(key)
                }
            }
        }
    }

    /// Takes `keys` as changed again (their write failed): the next ``takeChanges()`` has them.
    func markChanged(_ keys: some Sequence<Key>) {
        guard self.tracksChanges else { return }
        self.state.withLock { state in
            state.dirty.formUnion(keys)
        }
    }

    /// Takes every own record as changed: after a new lease, all must be put again under it.
    func markAllChanged() {
        guard self.tracksChanges else { return }
        self.state.withLock { state in
            state.dirty.formUnion(state.records.keys)
        }
    }

    /// A record the shared directory holds now for its key: another server's
    /// joins the view (replacing what that key held); this server's own means
    /// the key is ours again. An own record that supersedes another server's
    /// is taken as changed, so it is written back over it.
    func learned(_ record: Record) {
        self.state.withLock { state in
            self.learn(record, into: &state)
        }
    }

    /// The shared directory no longer holds `key` (its server's lease expired, or
    /// the instance was forgotten). An own record of it is taken as changed, to be put again.
    func forgot(_ key: Key) {
        self.state.withLock { state in
            if let old = state.foreign.removeValue(forKey: key), old.connected { state.live = nil }
            if state.records[key] != nil {
                state.dirty.insert(key)
                state.live = nil
            }
        }
    }

    /// Everything the shared directory holds, read afresh: replaces every other
    /// server's record known before; own records it lacks are taken as changed.
    func replaceForeign(with records: [Record]) {
        self.state.withLock { state in
            state.foreign = [:]
            state.live = nil
            var present = Set<Key>()
            for record in records {
                if record.server == self.server { present.insert(record.key) }
                self.learn(record, into: &state)
            }
            state.dirty.formUnion(state.records.keys.filter { !present.contains($0) })
        }
    }

    private func learn(_ record: Record, into state: inout State) {
        let key = record.key
        guard record.server != self.server else {
            if state.foreign.removeValue(forKey: key) != nil { state.live = nil }
            return
        }
        let old = state.foreign.updateValue(record, forKey: key)
        if old?.connected != record.connected || old?.parsedVersion != record.parsedVersion { state.live = nil }
        if let own = state.records[key] {
            state.live = nil
            if own.supersedes(record) { state.dirty.insert(key) }
        }
    }

    private func update(_ instance: InstanceRef, identity: String, _ body: (inout Record) -> Void) throws(Full) {
        let now = self.now()
        let key = Key(component: instance.component, instanceID: instance.instanceID)
        try self.state.withLock { state throws(Full) in
            let previous = state.records[key]
            if previous == nil {
                try self.makeRoom(in: &state, for: key.component, now: now)
                state.counts[key.component, default: 0] += 1
            }
            var record = previous ?? Record(
                key: key,
                version: "",
                identity: identity,
                registeredAtUnixMilliseconds: now,
                lastSeenUnixMilliseconds: now,
                server: self.server ?? ""
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
            if self.tracksChanges { state.dirty.insert(key) }
        }
    }

    /// Forgets the component's longest-disconnected instance when the component
    /// is full and that one has been gone longer than the capacity allows.
    ///
    /// A scan of all records, but only when a component is full and a new
    /// instance arrives: the common paths (acks, pushes, re-registrations) never pay it.
    private func makeRoom(in state: inout State, for component: String, now: Int64) throws(Full) {
        guard (state.counts[component] ?? 0) >= self.capacity.maxPerComponent else { return }
        var oldest: Record?
        for record in state.records.values where record.key.component == component && !record.connected {
            if oldest.map({ record.lastSeenUnixMilliseconds < $0.lastSeenUnixMilliseconds }) ?? true { oldest = record }
        }
        guard let oldest, now - oldest.lastSeenUnixMilliseconds > self.capacity.evictAfterMilliseconds else {
            throw Full(
                component: component,
                limit: self.capacity.maxPerComponent,
                retryAfterMilliseconds: oldest.map { $0.lastSeenUnixMilliseconds + self.capacity.evictAfterMilliseconds + 1 - now }
            )
        }
        self.remove(oldest.key, in: &state)
    }

    /// Forgets one own record (evicted for room, or past the retention): taken as changed, i.e. deleted.
    private func remove(_ key: Key, in state: inout State) {
        guard state.records.removeValue(forKey: key) != nil else { return }
        state.counts[key.component, default: 1] -= 1
        if state.counts[key.component] == 0 { state.counts[key.component] = nil }
        if self.tracksChanges { state.dirty.insert(key) }
    }

    private func modify(_ key: Key, _ body: (inout Record, Int64) -> Void) {
        let now = self.now()
        self.state.withLock { state in
            // In place: every push and ack lands here, and a record copied out and back costs two hashes and its fields' retains.
            guard let index = state.records.index(forKey: key) else { return }
            let wasConnected = state.records.values[index].connected
            body(&state.records.values[index], now)
            if state.records.values[index].connected != wasConnected { state.live = nil }
            if self.tracksChanges { state.dirty.insert(key) }
        }
    }
}
