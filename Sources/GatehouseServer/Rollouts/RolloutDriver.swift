import GatehouseCore
import GatehouseProto
import GatehouseStore
import Logging
import Synchronization

/// Moves running rollouts along: on every tick, for each running rollout,
/// observes its canaries in the ``InstanceRegistry`` (acks, NACKs, health
/// reports, disconnects), asks Core's state machine what follows, and
/// commits the transition (next step, completion, rollback) as one
/// `Change.putRollout` batch through the ordinary commit path: audited,
/// persisted, pushed.
///
/// It keeps nothing of its own between ticks: everything it decides from is
/// the stored rollout (its step, threshold, absolute bake deadline) and the
/// live registry, so a restarted server resumes at the same step with the
/// same remaining bake. Canaries that were connected before the restart
/// reconnect; until they do they count as disconnected since the server
/// started (``serverStartedAt``), and only past the rollout's grace.
///
/// Time is injected twice: `sleep` paces the ticks (tests use a short
/// interval, or call ``tick()`` themselves), and the GateService's `now`
/// stamps every decision.
final class RolloutDriver: Sendable {
    let gates: GateService
    let registry: InstanceRegistry
    /// What each subscriber was last moved by; nil where there are no subscriptions (tests of the driver alone).
    let hub: SubscriptionHub?
    /// When this server started, in milliseconds since the epoch: a canary's disconnect grace counts from no earlier.
    let serverStartedAt: UnixMilliseconds
    /// How often running rollouts are looked at.
    let tickInterval: Duration
    let sleep: @Sendable (Duration) async throws -> Void
    let logger: Logger
    /// The last error each rollout's transition failed with, so a lasting failure is logged once.
    private let failures = Mutex<[String: String]>([:])

    /// The audit trail's actor for what the driver decides on its own.
    static let actor = "gatehouse"
    /// The audit trail's method for the same.
    static let method = "rollout-driver"
    static let defaultTickInterval: Duration = .milliseconds(500)

    /// What an operator asks of a rollout.
    enum OperatorAction: String, Sendable, CaseIterable {
        case pause, resume, promote, abort
    }

    init(
        gates: GateService,
        registry: InstanceRegistry,
        hub: SubscriptionHub? = nil,
        serverStartedAt: UnixMilliseconds,
        tickInterval: Duration = RolloutDriver.defaultTickInterval,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        logger: Logger
    ) {
        self.gates = gates
        self.registry = registry
        self.hub = hub
        self.serverStartedAt = serverStartedAt
        self.tickInterval = tickInterval
        self.sleep = sleep
        var logger = logger
        logger[metadataKey: "component"] = "rollout-driver"
        self.logger = logger
    }

    /// Ticks while `leadership` has this server lead, until cancelled: over
    /// etcd only the elected server drives, and the one elected after it
    /// resumes every rollout from its stored record.
    func run(leadership: some RolloutLeadership) async {
        await leadership.whileLeading { await self.run() }
    }

    /// Ticks until cancelled.
    func run() async {
        while !Task.isCancelled {
            do {
                try await self.sleep(self.tickInterval)
            } catch {
                return
            }
            await self.tick()
        }
    }

    /// One pass over the running rollouts; each is committed on its own, so one refused transition holds up no other.
    func tick() async {
        let running = self.gates.state.rollouts.values.filter { $0.phase == .running }.map(\.name).sorted()
        for name in running {
            do {
                _ = try await self.advance(name)
                self.failures.withLock { $0[name] = nil }
            } catch {
                // Logged when it starts failing or fails differently, not on every tick.
                let text = "\(error)"
                let repeated = self.failures.withLock { failures in
                    defer { failures[name] = text }
                    return failures[name] == text
                }
                self.logger.log(level: repeated ? .debug : .error, "rollout transition failed", metadata: ["rollout": "\(name)", "error": "\(text)"])
            }
        }
    }

    // MARK: - Ticks

    /// Ticks one running rollout: judged first on the published state (most
    /// ticks change nothing and cost the writer nothing), then, when it would
    /// move, decided again on the latest state inside the store's pipeline and committed.
    ///
    /// - Returns: the committed transition, or nil when nothing changed.
    @discardableResult
    func advance(_ name: String) async throws -> Committed<BatchSummary>? {
        let now = UnixMilliseconds(self.gates.now())
        guard let rollout = self.gates.state.rollout(name), self.decide(rollout, in: self.gates.state, at: now).next != nil else { return nil }
        let decided = Mutex("")
        let committed = try await self.gates.commit(method: Self.method, logger: self.logger) { state, time in
            guard let rollout = state.rollout(name) else { return nil }
            let tick = self.decide(rollout, in: state, at: time)
            guard let next = tick.next else { return nil }
            let batch = self.transitionBatch(from: rollout, to: next, verdicts: tick.verdicts)
            decided.withLock { $0 = batch.reason }
            return batch
        }
        guard committed.changed, let stored = RolloutService.stored(committed) else { return nil }
        self.logger.info(
            "rollout transition",
            metadata: [
                "rollout": "\(stored.name)", "phase": "\(stored.phase.rawValue)", "step": "\(stored.step + 1)/\(stored.steps.count)",
                "revision": "\(committed.revision)", "reason": "\(decided.withLock { $0 })",
            ]
        )
        return committed
    }

    /// What the machine decides for `rollout` at `now`, from the registry's view of its selection.
    func decide(_ rollout: Rollout, in state: GateState, at now: UnixMilliseconds) -> RolloutMachine.Tick {
        let observed = self.observations(of: rollout, in: state)
        return RolloutMachine.tick(rollout, at: now, serverStartedAt: self.serverStartedAt, canaries: observed, selection: observed.map(\.bucket))
    }

    /// The batch that commits a transition the machine decided on its own.
    func transitionBatch(from rollout: Rollout, to next: Rollout, verdicts: [CanaryVerdict]) -> ChangeBatch {
        var next = next
        // Instances' own words reach the record and the audit trail on one line each, bounded.
        next.message = RequestLimits.truncated(ControlCharacters.escaped(next.message), octets: self.gates.limits.maxReasonOctets)
        let reason = RequestLimits.truncated(Self.reason(from: rollout, to: next, verdicts: verdicts), octets: self.gates.limits.maxReasonOctets)
        return ChangeBatch(changes: [.putRollout(next)], reason: reason, actor: Self.actor)
    }

    /// The audit reason of a transition the driver commits:
    /// `rollout r7: step 2/4 (10%) after 5m bake, 3/3 canaries healthy`,
    /// `rollout r7 completed: step 4/4 (100%) baked 5m, 20/20 canaries healthy`,
    /// `rollout r7 rolled back: 2 of 5 canaries unhealthy: …`.
    static func reason(from rollout: Rollout, to next: Rollout, verdicts: [CanaryVerdict]) -> String {
        let counted = verdicts.filter { $0.state != .ignored }
        let healthy = "\(counted.count { $0.state == .healthy })/\(counted.count) canaries healthy"
        let bake = BakeDuration.text(milliseconds: rollout.steps[rollout.step].bake)
        switch next.phase {
        case .running, .paused:
            return "rollout \(next.name): step \(next.step + 1)/\(next.steps.count) (\(next.steps[next.step].size)) after \(bake) bake, \(healthy)"
        case .completed:
            return "rollout \(next.name) completed: step \(rollout.step + 1)/\(rollout.steps.count) (\(rollout.steps[rollout.step].size)) baked \(bake), \(healthy)"
        case .rolledBack, .aborted:
            return "rollout \(next.name) rolled back: \(ControlCharacters.escaped(next.message))"
        }
    }

    // MARK: - Observations

    /// What the registry knows of every instance `rollout`'s selection covers
    /// (canaries or not: the machine keeps those below the threshold, and an
    /// instance-count step reads all their buckets).
    func observations(of rollout: Rollout, in state: GateState) -> [CanaryObservation] {
        self.registry.list(component: rollout.component).compactMap { record in
            guard state.isEligible(record.instance, labels: record.labels, for: rollout) else { return nil }
            return CanaryObservation(
                instanceID: record.key.instanceID,
                bucket: rollout.bucket(of: record.key.instanceID),
                ackedRevision: self.upToDate(record, with: rollout) ? max(record.appliedRevision, rollout.stepRevision) : record.appliedRevision,
                nack: record.nacks.first.map { CanaryObservation.Nack(revision: $0.revision, reason: $0.reason) },
                health: record.health.map { CanaryObservation.Health(healthy: $0.healthy, entries: $0.entries, message: $0.message) },
                connected: record.connected,
                disconnectedAt: record.disconnectedAtUnixMilliseconds.map { UnixMilliseconds($0) }
            )
        }
    }

    /// Whether the instance has applied its current state of the rollout's
    /// target although it never acked `stepRevision`: a canary of an earlier
    /// step is not changed (so not pushed, and never acks) by a later step's
    /// revision. It counts as having acked the step when the hub has brought
    /// subscribers to that revision and the instance acked, without a NACK
    /// since, the revision that last changed the target for it.
    func upToDate(_ record: InstanceRegistry.Record, with rollout: Rollout) -> Bool {
        guard record.appliedRevision < rollout.stepRevision, let hub = self.hub, record.connected, !record.failing,
            hub.revision >= rollout.stepRevision
        else { return false }
        let feature: String?
        switch rollout.target {
        case .feature(let name): feature = name
        case .api: feature = nil  // the whole state: an API's revision is not tracked apart
        }
        guard let target = hub.target(for: record.instance, feature: feature) else { return false }
        return record.appliedRevision >= target.revision
    }

    /// The canaries of a rollout as Rollouts/Get shows them: how many
    /// instances its selection covers, and each canary of its current step
    /// as the machine judges it now (a paused rollout's as if it ran; none
    /// for a rollout no longer in effect).
    func canaries(of rollout: Rollout, in state: GateState) -> (selected: Int, statuses: [CanaryStatus]) {
        let observed = self.observations(of: rollout, in: state)
        guard rollout.isInEffect else { return (observed.count, []) }
        var probe = rollout
        probe.phase = .running
        let verdicts = RolloutMachine.tick(
            probe, at: UnixMilliseconds(self.gates.now()), serverStartedAt: self.serverStartedAt, canaries: observed, selection: observed.map(\.bucket)
        ).verdicts
        let connected = Dictionary(observed.map { ($0.instanceID, $0.connected) }, uniquingKeysWith: { $1 })
        return (observed.count, verdicts.map { CanaryStatus(verdict: $0, connected: connected[$0.instanceID] ?? false) })
    }

    /// One canary as Rollouts/Get shows it.
    struct CanaryStatus: Sendable {
        var verdict: CanaryVerdict
        var connected: Bool

        var acked: Bool { self.verdict.acked }
        var unhealthy: Bool { self.verdict.state == .unhealthy }

        var wire: Gatehouse_V1_CanaryStatus {
            .with {
                $0.instanceID = self.verdict.instanceID
                $0.bucket = self.verdict.bucket
                $0.acked = self.verdict.acked
                $0.healthy = self.verdict.state == .healthy
                $0.message = self.verdict.message
                $0.connected = self.connected
            }
        }
    }

    // MARK: - Starts and operators' actions

    /// The batch that starts `rollout` (named `r<revision>` when it has no
    /// name): the machine's first step over the instances selected now. The
    /// applier checks the start rules (refusals) when it is applied.
    func startBatch(_ rollout: Rollout, reason: String, state: GateState, at now: UnixMilliseconds) -> ChangeBatch {
        var rollout = rollout
        if rollout.name.isEmpty { rollout.name = "r\(state.revision.next.rawValue)" }
        let selection = self.observations(of: rollout, in: state).map(\.bucket)
        let started = RolloutMachine.start(rollout, at: now, selection: selection)
        return ChangeBatch(changes: [.putRollout(started)], reason: reason, actor: rollout.actor)
    }

    /// The batch that applies an operator's action, decided by the machine on the latest state.
    /// - Throws: `ROLLOUT_STATE` when the rollout's phase does not allow it.
    func operatorBatch(_ action: OperatorAction, on rollout: Rollout, reason: String, actor: String, state: GateState, at now: UnixMilliseconds) throws(GateError) -> ChangeBatch {
        let next: Rollout
        switch action {
        case .pause: next = try RolloutMachine.pause(rollout, at: now, reason: reason)
        case .resume: next = try RolloutMachine.resume(rollout, at: now)
        case .promote: next = try RolloutMachine.promote(rollout)
        case .abort: next = try RolloutMachine.abort(rollout, reason: reason, actor: actor)
        }
        let audit = reason.isEmpty ? "\(action.rawValue) rollout \(rollout.name)" : reason
        return ChangeBatch(changes: [.putRollout(next)], reason: audit, actor: actor)
    }

    /// Logs a start, as every transition is logged.
    func log(started rollout: Rollout) {
        self.logger.info(
            "rollout started",
            metadata: [
                "rollout": "\(rollout.name)", "target": "\(rollout.target)", "component": "\(rollout.component)",
                "steps": "\(rollout.steps.map(\.size.description).joined(separator: " → "))", "revision": "\(rollout.revision)",
            ]
        )
    }

    /// Logs an operator's action.
    func log(_ action: OperatorAction, _ rollout: Rollout, actor: String) {
        self.logger.info(
            "rollout \(action.rawValue)",
            metadata: ["rollout": "\(rollout.name)", "phase": "\(rollout.phase.rawValue)", "actor": "\(actor)", "revision": "\(rollout.revision)"]
        )
    }
}
