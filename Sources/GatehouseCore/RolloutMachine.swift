/// The rollout state machine (DESIGN rule 4), as pure functions of a stored
/// rollout, the time and what the server observed: no clock, no I/O.
///
/// Each function returns the next `Rollout` record to commit (one
/// `Change.putRollout` in an ordinary batch: audited, persisted, pushed) or
/// nothing. Because the record holds absolute times (`bakeDeadline`) and the
/// machine keeps nothing between calls, a restarted server that ticks the
/// same record at a later time resumes at the same step with the same
/// remaining bake.
public enum RolloutMachine {
    /// What one tick decided.
    public struct Tick: Hashable, Sendable {
        /// The record to commit, or nil when nothing changes now.
        public var next: Rollout?
        /// When ticking again could change something even if nothing is observed
        /// to change (a bake ends, a disconnected canary's grace runs out); nil: only
        /// a new observation (an ack, a NACK, a report, a connection) can.
        public var recheckAt: UnixMilliseconds?
        /// How each canary of the step was judged, sorted by bucket.
        public var verdicts: [CanaryVerdict]
        /// Why a running rollout is not widening yet, for people; empty otherwise.
        public var waitingFor: String

        public init(next: Rollout?, recheckAt: UnixMilliseconds?, verdicts: [CanaryVerdict], waitingFor: String = "") {
            self.next = next
            self.recheckAt = recheckAt
            self.verdicts = verdicts
            self.waitingFor = waitingFor
        }
    }

    // MARK: - Start

    /// The record a start commits: running at step 0 from `now`, its threshold
    /// covering the first step of `selection` (the buckets of the instances the
    /// selection covers now; only instance-count steps need them).
    public static func start(_ rollout: Rollout, at now: UnixMilliseconds, selection: [Double]) -> Rollout {
        var started = rollout
        started.phase = .running
        started.step = 0
        // A spec without steps is refused by the applier (INVALID_ROLLOUT); it starts nobody.
        started.threshold = rollout.steps.first.map { Self.threshold(for: $0.size, after: 0, selection: selection) } ?? 0
        started.stepStartedAt = now
        started.bakeDeadline = now.advanced(by: rollout.steps.first?.bake ?? 0)
        started.bakeRemaining = nil
        started.message = ""
        started.createdAt = now
        return started
    }

    /// The threshold of a step: a percent p covers buckets below p/100; n
    /// instances cover the n smallest buckets of `selection` (the n-th smallest
    /// plus the least step up, since membership is `bucket < threshold`; all of
    /// them when fewer are selected). Never below `previous`: canaries stay canaries.
    public static func threshold(for size: RolloutStep.Size, after previous: Double, selection: [Double]) -> Double {
        let wanted: Double
        switch size {
        case .percent(let percent):
            wanted = percent >= 100 ? 1 : percent / 100
        case .instances(let count):
            let sorted = selection.sorted()
            if sorted.isEmpty || count <= 0 {
                wanted = 0
            } else {
                wanted = min(sorted[min(count, sorted.count) - 1].nextUp, 1)
            }
        }
        return max(previous, wanted)
    }

    // MARK: - Tick

    /// Judges a running rollout's canaries at `now` and decides whether it widens, completes or rolls back.
    ///
    /// - Parameters:
    ///   - canaries: what is known of each instance the rollout covers (the driver
    ///     computes them with ``GateState/cohorts(of:labels:)``); those at or above the
    ///     threshold are not canaries and are left out.
    ///   - serverStartedAt: when this server started: a disconnected canary's grace
    ///     never counts from before it (it cannot have seen the canary go).
    ///   - selection: buckets of the instances the selection covers now; read only
    ///     when the next step is an instance count.
    ///
    /// Rules: a canary is unhealthy when it NACKed a revision at or after
    /// `stepRevision`; or its latest report is unhealthy and blames the target
    /// or nothing in particular; or it is disconnected, for longer than
    /// `disconnectGrace`, counting from the latest of its disconnect, the step's
    /// start and the server's start. One disconnected since before the step
    /// began (and not back) is ignored. More than the step's `maxUnhealthy`
    /// unhealthy rolls back. The rollout widens only when every counted canary
    /// acked `stepRevision` and is healthy and the bake is over: a tolerated
    /// unhealthy canary holds the step (an operator may promote or abort).
    public static func tick(
        _ rollout: Rollout,
        at now: UnixMilliseconds,
        serverStartedAt: UnixMilliseconds,
        canaries: [CanaryObservation],
        selection: [Double] = []
    ) -> Tick {
        guard rollout.phase == .running, rollout.steps.indices.contains(rollout.step) else {
            return Tick(next: nil, recheckAt: nil, verdicts: [])
        }
        let step = rollout.steps[rollout.step]
        var recheckAt: UnixMilliseconds?
        func recheck(_ time: UnixMilliseconds) {
            recheckAt = recheckAt.map { min($0, time) } ?? time
        }
        let verdicts = canaries.filter { $0.bucket < rollout.threshold }.sorted { ($0.bucket, $0.instanceID) < ($1.bucket, $1.instanceID) }.map { canary in
            let (verdict, graceEnds) = Self.judge(canary, of: rollout, at: now, serverStartedAt: serverStartedAt)
            if let graceEnds { recheck(graceEnds) }
            return verdict
        }

        let counted = verdicts.filter { $0.state != .ignored }
        let unhealthy = counted.filter { $0.state == .unhealthy }
        if unhealthy.count > step.maxUnhealthy {
            var next = rollout
            next.phase = .rolledBack
            next.bakeDeadline = nil
            next.bakeRemaining = nil
            next.message = Self.rollbackMessage(unhealthy: unhealthy, of: counted.count)
            return Tick(next: next, recheckAt: nil, verdicts: verdicts)
        }
        let pending = counted.filter { $0.state == .pending }
        if !unhealthy.isEmpty {
            return Tick(next: nil, recheckAt: recheckAt, verdicts: verdicts, waitingFor: Self.list(unhealthy, "unhealthy (tolerated, holding the step)"))
        }
        if !pending.isEmpty {
            return Tick(next: nil, recheckAt: recheckAt, verdicts: verdicts, waitingFor: Self.list(pending, "to ack \(rollout.stepRevision)"))
        }
        let deadline = rollout.bakeDeadline ?? rollout.stepStartedAt.advanced(by: step.bake)
        if now < deadline {
            recheck(deadline)
            return Tick(next: nil, recheckAt: recheckAt, verdicts: verdicts, waitingFor: "the bake to end in \(deadline.milliseconds(since: now)) ms")
        }
        return Tick(next: Self.widened(rollout, at: now, selection: selection), recheckAt: nil, verdicts: verdicts)
    }

    /// The next step's record, or the completed record after the last step.
    static func widened(_ rollout: Rollout, at now: UnixMilliseconds, selection: [Double]) -> Rollout {
        var next = rollout
        next.bakeRemaining = nil
        next.message = ""
        if rollout.step + 1 >= rollout.steps.count {
            next.phase = .completed
            next.threshold = 1
            next.bakeDeadline = nil
            return next
        }
        next.step = rollout.step + 1
        next.threshold = Self.threshold(for: rollout.steps[next.step].size, after: rollout.threshold, selection: selection)
        next.stepStartedAt = now
        next.bakeDeadline = now.advanced(by: rollout.steps[next.step].bake)
        return next
    }

    /// One canary's verdict, and when its disconnect grace runs out if that is still ahead.
    static func judge(
        _ canary: CanaryObservation,
        of rollout: Rollout,
        at now: UnixMilliseconds,
        serverStartedAt: UnixMilliseconds
    ) -> (CanaryVerdict, graceEnds: UnixMilliseconds?) {
        let acked = canary.ackedRevision >= rollout.stepRevision
        func verdict(_ state: CanaryVerdict.State, _ message: String = "") -> CanaryVerdict {
            CanaryVerdict(instanceID: canary.instanceID, bucket: canary.bucket, state: state, acked: acked, message: message)
        }
        if let nack = canary.nack, nack.revision >= rollout.stepRevision {
            return (verdict(.unhealthy, "NACK \(nack.revision) \(nack.reason)"), nil)
        }
        if let health = canary.health, !health.healthy, health.entries.isEmpty || health.entries.contains(where: rollout.target.isBlamed(by:)) {
            let what = health.message.isEmpty ? "" : ": \(health.message)"
            return (verdict(.unhealthy, "reported unhealthy\(what)"), nil)
        }
        if !canary.connected {
            if let gone = canary.disconnectedAt, gone < rollout.stepStartedAt {
                return (verdict(.ignored, "disconnected since before the step began"), nil)
            }
            let since = max(canary.disconnectedAt ?? serverStartedAt, rollout.stepStartedAt, serverStartedAt)
            let graceEnds = since.advanced(by: rollout.disconnectGrace)
            let seconds = now.milliseconds(since: since) / 1000
            if now > graceEnds {
                return (verdict(.unhealthy, "disconnected for \(seconds)s (grace \(rollout.disconnectGrace / 1000)s)"), nil)
            }
            // Within its grace: neither healthy nor unhealthy yet; it holds the step like a missing ack.
            return (verdict(.pending, "disconnected for \(seconds)s, within the grace"), graceEnds.advanced(by: 1))
        }
        return (verdict(acked ? .healthy : .pending, acked ? "" : "has not acked \(rollout.stepRevision)"), nil)
    }

    /// "2 of 5 canaries unhealthy: node-3 NACK r41 UNKNOWN_FEATURE; node-7 reported unhealthy: …" (at most 5 named).
    static func rollbackMessage(unhealthy: [CanaryVerdict], of counted: Int) -> String {
        let named = unhealthy.prefix(5).map { "\($0.instanceID) \($0.message)" }.joined(separator: "; ")
        let more = unhealthy.count > 5 ? "; and \(unhealthy.count - 5) more" : ""
        let noun = counted == 1 ? "canary" : "canaries"
        return "\(unhealthy.count) of \(counted) \(noun) unhealthy: \(named)\(more)"
    }

    /// "node-3, node-7 unhealthy (…)" / "3 canaries to ack r12: node-1, node-2, node-4" (at most 5 named).
    private static func list(_ verdicts: [CanaryVerdict], _ what: String) -> String {
        let names = verdicts.prefix(5).map(\.instanceID).joined(separator: ", ")
        let more = verdicts.count > 5 ? " and \(verdicts.count - 5) more" : ""
        return "\(verdicts.count) \(verdicts.count == 1 ? "canary" : "canaries") \(what): \(names)\(more)"
    }

    // MARK: - Operator actions

    /// running → paused: the bake clock stops with what was left of it.
    public static func pause(_ rollout: Rollout, at now: UnixMilliseconds, reason: String) throws(GateError) -> Rollout {
        guard rollout.phase == .running else { throw Self.illegal("pause", rollout, allowed: "only a running rollout can be paused") }
        var next = rollout
        next.phase = .paused
        let bake = rollout.steps.indices.contains(rollout.step) ? rollout.steps[rollout.step].bake : 0
        let deadline = rollout.bakeDeadline ?? rollout.stepStartedAt.advanced(by: bake)
        next.bakeRemaining = max(0, deadline.milliseconds(since: now))
        next.bakeDeadline = nil
        next.message = reason.isEmpty ? "paused" : reason
        return next
    }

    /// paused → running, with the bake time it had left.
    public static func resume(_ rollout: Rollout, at now: UnixMilliseconds) throws(GateError) -> Rollout {
        guard rollout.phase == .paused else { throw Self.illegal("resume", rollout, allowed: "only a paused rollout can be resumed") }
        var next = rollout
        next.phase = .running
        next.bakeDeadline = now.advanced(by: rollout.bakeRemaining ?? 0)
        next.bakeRemaining = nil
        next.message = ""
        return next
    }

    /// running or paused → completed at once: the whole selection gets the value.
    public static func promote(_ rollout: Rollout) throws(GateError) -> Rollout {
        guard rollout.isActive else { throw Self.illegal("promote", rollout, allowed: "only a running or paused rollout can be promoted") }
        var next = rollout
        next.phase = .completed
        next.step = max(rollout.steps.count - 1, 0)
        next.threshold = 1
        next.bakeDeadline = nil
        next.bakeRemaining = nil
        next.message = ""
        return next
    }

    /// running, paused or completed → aborted: every canary returns to what it had before.
    public static func abort(_ rollout: Rollout, reason: String, actor: String) throws(GateError) -> Rollout {
        guard rollout.isInEffect else { throw Self.illegal("abort", rollout, allowed: "it has already ended") }
        var next = rollout
        next.phase = .aborted
        next.bakeDeadline = nil
        next.bakeRemaining = nil
        next.message = reason.isEmpty ? "aborted by \(actor)" : reason
        return next
    }

    static func illegal(_ action: String, _ rollout: Rollout, allowed: String) -> GateError {
        let advice: String
        switch rollout.phase {
        case .running: advice = "it is running (pause, promote or abort it)"
        case .paused: advice = "it is paused (resume, promote or abort it)"
        case .completed: advice = "it is completed (abort it, or make it permanent with gatectl enable … --component \(rollout.component) and then abort it)"
        case .rolledBack: advice = "it was rolled back (\(rollout.message)); start a new rollout"
        case .aborted: advice = "it was aborted; start a new rollout"
        }
        return GateError(
            "cannot \(action) rollout \(rollout.name): \(allowed), and \(advice)",
            reason: .rolloutState,
            metadata: ["rollout": rollout.name, "phase": rollout.phase.rawValue]
        )
    }
}

extension RolloutTarget {
    /// How a health report names it: the feature's name, or `group/version[/resource]`.
    public var entryName: String {
        switch self {
        case .feature(let name): name
        case .api(let ref): ref.description
        }
    }

    /// Whether a health report entry blames this target: its name, or for a
    /// group/version one of its resources (`batch/v1beta1/cronjobs`).
    public func isBlamed(by entry: String) -> Bool {
        switch self {
        case .feature(let name): entry == name
        case .api(let ref): entry == ref.description || (ref.resource == nil && entry.hasPrefix(ref.description + "/"))
        }
    }
}
