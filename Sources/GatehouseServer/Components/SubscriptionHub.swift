import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseWire
import Logging
import NIOCore
import Synchronization

/// Pushes every subscribed instance's effective state, resolving and
/// encoding each change once per group of subscribers with identical inputs.
///
/// Subscribers are grouped by (component, version, the rollouts the instance
/// is a canary of, and the instance id only when that instance has overrides
/// of its own): every member of a group resolves to the same state, so a
/// committed batch costs one resolution and one encoding per group, and the
/// same bytes go to every member. A rollout therefore splits a (component,
/// version) group in two, its canaries and the rest, never into one group per
/// instance; a step moves the instances it widens to from one to the other. Writers
/// only enqueue the batch (``publish(_:endsGroup:)``); the hub's own task applies it
/// and hands each event loop its subscribers' pushes in one `execute`
/// (``SubscriberOutlet``), so nothing waits on a socket.
final class SubscriptionHub: Sendable {
    struct Configuration: Sendable {
        /// Committed batches kept for resuming subscribers.
        var historyLimit = 1000
        var queue = SubscriberQueue.Limits(queueLimit: 64, cutoffAfter: 4096)
        var heartbeatInterval: Duration = .seconds(10)
    }

    /// What identifies a group: inputs to resolution.
    struct GroupKey: Hashable, Sendable {
        var component: String
        var version: Version?
        /// Set only when the instance has overrides at its own scope.
        var instanceID: String?
        /// The rollouts the instance is a canary of (computed from its id and labels, not stored).
        var cohorts: RolloutCohorts
    }

    /// Instances that moved from one group to another in a batch: all of them were sent the same change.
    private struct MoveKey: Hashable {
        var from: GroupKey
        var to: GroupKey
    }

    /// Subscribers resolving to the same state, and that state.
    struct Group {
        var members: [UInt64: Member] = [:]
        /// The members' state; its revision is the last one that changed it.
        var push: PushState
        /// Per feature and API, the revision that last changed it for this group.
        var featureChangedAt: [String: Revision] = [:]
        var apiChangedAt: [APIRef: Revision] = [:]
        /// The snapshot at the hub's revision, encoded for the first joiner and reused.
        var snapshot: (revision: Revision, bytes: ByteBuffer)?
        /// The revision the group was formed at: what a feature that has not changed since must be applied at.
        var formedAt: Revision
    }

    struct Member {
        var instance: InstanceRef
        /// Its registered labels, as they were when it subscribed: a rollout's selection reads them.
        var labels: [String: String]
        var outlet: SubscriberOutlet
        /// Features whose value changed for it when it moved between groups, and
        /// at which revision: its group's own record does not know it was sent them.
        var movedAt: [String: Revision] = [:]
        /// The last revision at which a move changed anything for it.
        var lastMovedAt: Revision = .zero
    }

    /// What a new subscriber sends before its mailbox: a snapshot, or the
    /// deltas it missed and a heartbeat, and the state that leaves it in.
    struct Join: Sendable {
        var id: UInt64
        var initial: [ByteBuffer]
        var state: PushState
        var resumed: Bool
        /// The hub's revision when it joined: the state `initial` brings the subscriber to.
        var revision: Revision
        /// For a resumed subscription, the revision of the last delta replayed to it;
        /// nil when the missed batches changed nothing for it. Either way, once it
        /// holds that revision's state (it acked this delta, or, when nil, at once:
        /// its `since_revision` says it holds that state) it holds the state of
        /// ``revision``: no later batch changed anything for it.
        var lastReplayed: Revision?
    }

    private struct State {
        var current: GateState
        var history: RetainedHistory
        /// Batches that arrived before their predecessor.
        var early: [Revision: BatchSummary] = [:]
        var groups: [GroupKey: Group] = [:]
        /// Subscriber id → its group.
        var membership: [UInt64: GroupKey] = [:]
        /// Instance scope → subscriber ids, to regroup when that instance's own overrides change.
        var byInstance: [Scope: Set<UInt64>] = [:]
        /// Component → subscriber ids, to regroup a component's instances when one of its rollouts changes.
        var byComponent: [String: Set<UInt64>] = [:]
        var nextID: UInt64 = 1
        /// Group resolutions done for committed batches, for tests that prove a batch resolves only what it reaches.
        var groupsResolved = 0
    }

    let configuration: Configuration
    private let state: Mutex<State>
    /// Batches published and not yet applied. The writer publishes one per
    /// commit, tens per group: the hub's task is woken once for all of them
    /// and applies them under one lock, not once per batch.
    private let inbox = Mutex(Inbox())
    private let wakeups: AsyncStream<Void>.Continuation
    private let signals: AsyncStream<Void>
    private let logger: Logger
    private let now: @Sendable () -> Int64

    init(initial: GateState, history: [BatchSummary], configuration: Configuration, logger: Logger, now: @escaping @Sendable () -> Int64) {
        var retained = RetainedHistory(limit: configuration.historyLimit)
        for summary in history { retained.append(summary) }
        self.state = Mutex(State(current: initial, history: retained))
        self.configuration = configuration
        self.logger = logger
        self.now = now
        (self.signals, self.wakeups) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    private struct Inbox {
        var batches: [BatchSummary] = []
        /// When the oldest of `batches` was published (``ServerMetrics/now()``), for the fan-out latency.
        var since: UInt64 = 0
        /// Whether the hub's task has been woken for what is in `batches`.
        var signalled = false
    }

    /// Subscriptions open now (watches included), for the metrics.
    var subscriberCount: Int {
        self.state.withLock { $0.membership.count }
    }

    /// The revision subscribers have been brought to.
    var revision: Revision {
        self.state.withLock { $0.current.revision }
    }

    /// Hands a committed batch (if any) to the hub and returns at once; wakes the hub's task
    /// only when `endsGroup`: the store's writer completes a group's
    /// submissions one after another, and waking the task for each one cost
    /// a thread switch per toggle where one per group will do.
    func publish(_ summary: BatchSummary?, endsGroup: Bool) {
        let wake = self.inbox.withLock { inbox -> Bool in
            if let summary {
                if inbox.batches.isEmpty { inbox.since = ServerMetrics.now() }
                inbox.batches.append(summary)
            }
            guard endsGroup, !inbox.batches.isEmpty, !inbox.signalled else { return false }
            inbox.signalled = true
            return true
        }
        if wake { self.wakeups.yield() }
    }

    /// Applies published batches and sends heartbeats until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in self.signals {
                    let (batches, since) = self.inbox.withLock { inbox -> ([BatchSummary], UInt64) in
                        inbox.signalled = false
                        defer { inbox.batches = [] }
                        return (inbox.batches, inbox.since)
                    }
                    self.apply(batches, committedAt: since)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.configuration.heartbeatInterval)
                    self.heartbeat()
                }
            }
        }
    }

    /// Ends every subscription with UNAVAILABLE (the server is shutting down) and stops applying batches.
    func close() {
        self.wakeups.finish()
        let outlets = self.state.withLock { state in state.groups.values.flatMap { $0.members.values.map(\.outlet) } }
        let error = RPCError(.unavailable, "the server is shutting down; resubscribe with since_revision")
        Self.send(outlets.map { ($0, nil) }) { outlet, _ in outlet.finish(error) }
    }

    // MARK: - Subscribers

    /// Adds a subscriber; `since` resumes after that revision when the history still covers it.
    /// `labels` are the instance's registered labels: they decide which rollouts' selections cover it.
    func join(_ instance: InstanceRef, labels: [String: String] = [:], since: Revision?, outlet: SubscriberOutlet) throws -> Join {
        try self.state.withLock { state in
            let key = Self.groupKey(instance, labels: labels, in: state.current)
            // Mutated in place below: a copy of the group would copy its member table on every join.
            if state.groups[key] == nil { state.groups[key] = Self.makeGroup(key, at: state.current) }
            let push = state.groups[key]!.push
            let id = state.nextID
            state.nextID += 1

            var initial: [ByteBuffer] = []
            var resumed = false
            var lastReplayed: Revision?
            if let since, state.history.covers(since, currentRevision: state.current.revision) {
                resumed = true
                var replayed = state.history.state(at: since, from: state.current)
                var sent = Self.push(instance, labels: labels, in: replayed)
                for summary in state.history.batches(after: since) {
                    replayed.replay(summary)
                    let next = Self.push(instance, labels: labels, in: replayed)
                    let delta = next.delta(from: sent)
                    if !delta.isEmpty {
                        initial.append(try ProtobufCoding.encode(delta.wire))
                        lastReplayed = delta.revision
                        sent = next
                    }
                }
                initial.append(try self.heartbeatMessage(revision: state.current.revision))
            } else {
                if let snapshot = state.groups[key]!.snapshot, snapshot.revision == state.current.revision, since == nil {
                    initial.append(snapshot.bytes)
                } else {
                    let bytes = try ProtobufCoding.encode(push.wireSnapshot(revision: state.current.revision, reset: since != nil))
                    if since == nil { state.groups[key]!.snapshot = (state.current.revision, bytes) }
                    initial.append(bytes)
                }
            }
            state.groups[key]!.members[id] = Member(instance: instance, labels: labels, outlet: outlet)
            state.membership[id] = key
            state.byInstance[instance.scope, default: []].insert(id)
            state.byComponent[instance.component, default: []].insert(id)
            return Join(id: id, initial: initial, state: push, resumed: resumed, revision: state.current.revision, lastReplayed: lastReplayed)
        }
    }

    /// Removes a subscriber; a group without members is dropped.
    func leave(_ id: UInt64) {
        self.state.withLock { state in
            guard let key = state.membership.removeValue(forKey: id), let member = state.groups[key]?.members.removeValue(forKey: id) else { return }
            state.byInstance[member.instance.scope]?.remove(id)
            if state.byInstance[member.instance.scope]?.isEmpty == true { state.byInstance[member.instance.scope] = nil }
            state.byComponent[member.instance.component]?.remove(id)
            if state.byComponent[member.instance.component]?.isEmpty == true { state.byComponent[member.instance.component] = nil }
            if state.groups[key]?.members.isEmpty == true { state.groups[key] = nil }
        }
    }

    /// For convergence: the revision that last changed `instance`'s state
    /// (or one feature of it) and whether that feature is on, while it is subscribed.
    ///
    /// A rollout's canary is in the canaries' group, so it counts as enabled;
    /// and it must have applied the revision that moved it there, not only the
    /// one that last changed its group (which may be an earlier step's).
    func target(for instance: InstanceRef, feature: String?) -> (revision: Revision, enabled: Bool?)? {
        self.state.withLock { state in
            guard let ids = state.byInstance[instance.scope], let id = ids.first, let key = state.membership[id], let group = state.groups[key],
                let member = group.members[id]
            else {
                return nil
            }
            guard let feature else { return (max(group.push.revision, member.lastMovedAt), nil) }
            guard let pushed = group.push.features[feature] else { return nil }
            return (max(group.featureChangedAt[feature] ?? group.formedAt, member.movedAt[feature] ?? .zero), pushed.enabled)
        }
    }

    /// The live replicas of `component`: each subscribed instance (watches left out) and
    /// the outlet of its latest subscription, for messages that are not pushes
    /// (two-phase activation's Prepare, `ApiActivations`).
    func replicaOutlets(of component: String) -> [(instance: InstanceRef, outlet: SubscriberOutlet)] {
        self.state.withLock { state in
            var latest: [String: (id: UInt64, member: Member)] = [:]
            for (key, group) in state.groups where key.component == component {
                for (id, member) in group.members where !member.outlet.isWatch && !member.instance.instanceID.isEmpty {
                    if let seen = latest[member.instance.instanceID], seen.id > id { continue }
                    latest[member.instance.instanceID] = (id, member)
                }
            }
            return latest.values.map { ($0.member.instance, $0.member.outlet) }
        }
    }

    /// Subscribers and groups, for logs and tests.
    var counts: (subscribers: Int, groups: Int) {
        self.state.withLock { ($0.membership.count, $0.groups.count) }
    }

    /// How many group resolutions committed batches have cost so far.
    var groupsResolved: Int {
        self.state.withLock { $0.groupsResolved }
    }

    // MARK: - Applying batches

    /// Applies one batch, as the list form below does.
    func apply(_ summary: BatchSummary) {
        self.apply([summary])
    }

    /// Applies batches in revision order, holding early ones back, under one
    /// lock and with one send per event loop; `run()` calls it with whatever
    /// was published since it last ran. `committedAt` (``ServerMetrics/now()``, 0 for
    /// unknown) is when the oldest of them was committed: outlets measure fan-out from it.
    func apply(_ summaries: [BatchSummary], committedAt: UInt64 = 0) {
        guard !summaries.isEmpty else { return }
        let deliveries = self.state.withLock { state -> [(SubscriberOutlet, SubscriberPush?)] in
            var deliveries: [(SubscriberOutlet, SubscriberPush?)] = []
            for summary in summaries {
                if state.early.isEmpty, summary.revision == state.current.revision.next {
                    // In order, as the writer publishes: nothing to hold back.
                    self.advance(&state, by: summary, into: &deliveries)
                    continue
                }
                state.early[summary.revision] = summary
                while let next = state.early.removeValue(forKey: state.current.revision.next) {
                    self.advance(&state, by: next, into: &deliveries)
                }
            }
            if state.early.count > 1024 {
                // A batch never arrived (its committer vanished): skipping ahead keeps subscribers moving.
                self.logger.error("subscription hub lost a batch; continuing from the next one", metadata: ["revision": "\(state.current.revision.next)"])
                if let first = state.early.keys.min(), let summary = state.early.removeValue(forKey: first) {
                    state.history = RetainedHistory(limit: state.history.limit)
                    self.advance(&state, by: summary, into: &deliveries)
                }
            }
            return deliveries
        }
        Self.send(deliveries) { outlet, push in
            if let push { outlet.deliver(push, committedAt: committedAt) }
        }
    }

    /// Runs `body` for each outlet on its own event loop: one `execute` per loop, not per subscriber.
    static func send(_ deliveries: [(SubscriberOutlet, SubscriberPush?)], _ body: @escaping @Sendable (SubscriberOutlet, SubscriberPush?) -> Void) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, items: [(SubscriberOutlet, SubscriberPush?)])] = [:]
        for delivery in deliveries {
            let loop = delivery.0.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].items.append(delivery)
        }
        for (loop, items) in byLoop.values {
            loop.execute {
                for (outlet, push) in items { body(outlet, push) }
            }
        }
    }

    /// One batch: new state, regroup instances whose inputs changed, one delta per changed group.
    ///
    /// Instances whose own overrides were written, and every instance of a
    /// component one of whose rollouts was written, get their group key
    /// recomputed (cohorts included); those whose key changed move, and are
    /// sent their new group's state once, after the groups are resolved, so a
    /// moved instance gets one push for the batch, not its old group's and its new one's.
    private func advance(_ state: inout State, by summary: BatchSummary, into deliveries: inout [(SubscriberOutlet, SubscriberPush?)]) {
        state.current.replay(summary)  // in place: assigning `replaying`'s result would copy every override
        state.history.append(summary)
        guard !state.groups.isEmpty else { return }  // no subscriber: nothing to regroup or resolve
        let revision = state.current.revision
        lazy var resolver = Resolver(state: state.current)  // only when some group needs it: writes with no subscribers pay nothing

        var candidates: Set<UInt64> = []
        for scope in Self.instanceScopes(touchedBy: summary) {
            candidates.formUnion(state.byInstance[scope] ?? [])
        }
        for component in Self.rolloutComponents(touchedBy: summary, in: state.current) {
            candidates.formUnion(state.byComponent[component] ?? [])
        }
        /// Moved subscribers → the group they left and its state before the batch (what they were sent).
        var moved: [UInt64: (from: GroupKey, sent: PushState)] = [:]
        for id in candidates {
            guard let oldKey = state.membership[id], let member = state.groups[oldKey]?.members[id] else { continue }
            let newKey = Self.groupKey(member.instance, labels: member.labels, in: state.current)
            guard newKey != oldKey else { continue }
            moved[id] = (oldKey, state.groups[oldKey]!.push)
            state.groups[oldKey]?.members[id] = nil
            if state.groups[oldKey]?.members.isEmpty == true { state.groups[oldKey] = nil }
            if state.groups[newKey] == nil {
                state.groupsResolved += 1
                state.groups[newKey] = Self.makeGroup(newKey, at: state.current)
            }
            state.groups[newKey]!.members[id] = member
            state.membership[id] = newKey
        }

        // Only groups whose inputs the batch wrote can change: a toggle on one
        // replica resolves that replica's group, not every group subscribed;
        // a rollout's step, its component's groups.
        let reach = BatchReach(summary)
        for (key, group) in state.groups where group.push.revision < revision && reach.affects(component: key.component, instanceID: key.instanceID ?? "") {
            state.groupsResolved += 1
            let push = PushState(resolver.resolve(Self.representative(of: key), cohorts: key.cohorts), in: state.current)
            let delta = push.delta(from: group.push)
            guard !delta.isEmpty else { continue }
            let bytes: ByteBuffer
            do {
                bytes = try ProtobufCoding.encode(delta.wire)
            } catch {
                self.logger.error("cannot encode a delta", metadata: ["error": "\(error)"])
                continue
            }
            var changed = group
            changed.push = push
            changed.snapshot = nil
            for name in delta.touchedFeatures { changed.featureChangedAt[name] = revision }
            for ref in delta.touchedAPIs { changed.apiChangedAt[ref] = revision }
            state.groups[key] = changed
            let delivery = SubscriberPush.groupDelta(bytes, base: delta.baseRevision, state: push)
            for (id, member) in group.members where moved[id] == nil {
                deliveries.append((member.outlet, delivery))
            }
        }

        // Each moved subscriber: its new group's state, once; and what the move changed for it, for convergence.
        // Members are written in place, holding no copy of a group: a copy alive while one member
        // changes would copy the group's whole member table, once per moved member.
        var touchedByMove: [MoveKey: [String]] = [:]
        for (id, move) in moved {
            guard let key = state.membership[id], let push = state.groups[key]?.push else { continue }
            let pair = MoveKey(from: move.from, to: key)
            let touched = touchedByMove[pair] ?? push.delta(from: move.sent).touchedFeatures
            touchedByMove[pair] = touched
            if !touched.isEmpty {
                state.groups[key]?.members[id]?.lastMovedAt = revision
                for name in touched { state.groups[key]?.members[id]?.movedAt[name] = revision }
            }
            if let outlet = state.groups[key]?.members[id]?.outlet {
                deliveries.append((outlet, .latest(push, revision: revision)))
            }
        }
    }

    private func heartbeat() {
        let (revision, outlets) = self.state.withLock { state in
            (state.current.revision, state.groups.values.flatMap { $0.members.values.map(\.outlet) })
        }
        guard !outlets.isEmpty, let bytes = try? self.heartbeatMessage(revision: revision) else { return }
        let push = SubscriberPush.heartbeat(bytes)
        Self.send(outlets.map { ($0, push) }) { outlet, push in
            if let push { outlet.deliver(push) }
        }
    }

    func heartbeatMessage(revision: Revision) throws -> ByteBuffer {
        try ProtobufCoding.encode(
            Gatehouse_V1_SubscribeResponse.with {
                $0.heartbeat = .with {
                    $0.revision = revision.rawValue
                    $0.serverTimeUnixMs = self.now()
                }
            }
        )
    }

    // MARK: - Groups

    static func groupKey(_ instance: InstanceRef, labels: [String: String], in state: GateState) -> GroupKey {
        let own = !instance.instanceID.isEmpty && state.hasOverrides(at: instance.scope)
        return GroupKey(
            component: instance.component,
            version: instance.version,
            instanceID: own ? instance.instanceID : nil,
            cohorts: Self.cohorts(of: instance, labels: labels, in: state)
        )
    }

    /// The rollouts `instance` is a canary of; none for a component-wide watch
    /// (no instance id), which is shown what the component's instances get without a rollout.
    static func cohorts(of instance: InstanceRef, labels: [String: String], in state: GateState) -> RolloutCohorts {
        instance.instanceID.isEmpty ? RolloutCohorts.none : state.cohorts(of: instance, labels: labels)
    }

    /// What `instance` is pushed in `state`.
    private static func push(_ instance: InstanceRef, labels: [String: String], in state: GateState) -> PushState {
        PushState(Resolver(state: state).resolve(instance, cohorts: Self.cohorts(of: instance, labels: labels, in: state)), in: state)
    }

    /// Any instance with the key's inputs resolves like every member.
    static func representative(of key: GroupKey) -> InstanceRef {
        InstanceRef(component: key.component, instanceID: key.instanceID ?? "", version: key.version)
    }

    private static func makeGroup(_ key: GroupKey, at state: GateState) -> Group {
        Group(push: PushState(Resolver(state: state).resolve(Self.representative(of: key), cohorts: key.cohorts), in: state), formedAt: state.revision)
    }

    private static func instanceScopes(touchedBy summary: BatchSummary) -> Set<Scope> {
        var scopes: Set<Scope> = []
        for change in summary.changes {
            switch change.key {
            case .featureOverride(let key) where key.scope.isInstance: scopes.insert(key.scope)
            case .apiOverride(let key) where key.scope.isInstance: scopes.insert(key.scope)
            default: break
            }
        }
        return scopes
    }

    /// Components whose instances' cohorts the batch may have changed: those
    /// of the rollouts it wrote, and those of rollouts in effect on a feature it
    /// redefined (a feature's minimum version decides who may be a canary).
    private static func rolloutComponents(touchedBy summary: BatchSummary, in state: GateState) -> Set<String> {
        var components: Set<String> = []
        var features: Set<String> = []
        for change in summary.changes {
            switch change.key {
            case .rollout:
                for case .rollout(let rollout)? in [change.before, change.after] {
                    components.insert(rollout.component)
                }
            case .feature(let name):
                features.insert(name)
            case .api, .featureOverride, .apiOverride, .componentBuild:
                break
            }
        }
        if !features.isEmpty {
            for rollout in state.rollouts.values where rollout.isInEffect {
                if case .feature(let name) = rollout.target, features.contains(name) { components.insert(rollout.component) }
            }
        }
        return components
    }
}

extension Scope {
    fileprivate var isInstance: Bool {
        if case .instance = self { return true }
        return false
    }
}
