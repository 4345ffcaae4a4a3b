import GatehouseCore
import GatehouseProto

/// Rollouts between the wire (`rollouts.proto`) and the Core model.
///
/// The wire-to-domain direction refuses what the domain cannot even hold (no
/// target, a step without a size, a negative bake, an unparsable version,
/// a number that is not finite) with INVALID_ARGUMENT naming the field;
/// the rules on a well-formed spec (how many steps, sizes that must not
/// shrink, the longest bake, the name) are the Core's, checked where a
/// rollout starts, so they hold for every way in.
extension RolloutTarget {
    public var wire: Gatehouse_V1_RolloutTarget {
        .with { target in
            switch self {
            case .feature(let name): target.feature = name
            case .api(let ref): target.api = ref.wire
            }
        }
    }

    public init(wire: Gatehouse_V1_RolloutTarget, field: String) throws(GateError) {
        switch wire.target {
        case .feature(let name):
            guard !name.isEmpty else { throw invalid("\(field).feature", "a feature name is required") }
            self = .feature(name)
        case .api(let ref):
            self = .api(try APIRef(wire: ref, field: "\(field).api"))
        case nil:
            throw invalid(field, "a rollout needs a target: a feature or an API")
        }
    }
}

extension RolloutStep {
    public var wire: Gatehouse_V1_RolloutStep {
        .with { step in
            switch self.size {
            case .percent(let value): step.percent = value
            case .instances(let count): step.instances = UInt32(clamping: count)
            }
            step.bakeMs = self.bake
            step.maxUnhealthy = UInt32(clamping: self.maxUnhealthy)
        }
    }

    public init(wire: Gatehouse_V1_RolloutStep, field: String) throws(GateError) {
        let size: Size
        switch wire.size {
        case .percent(let value):
            guard value.isFinite else { throw invalid("\(field).percent", "must be a number in (0, 100], e.g. 10") }
            size = .percent(value)
        case .instances(let count):
            size = .instances(Int(count))
        case nil:
            throw invalid(field, "a step needs a size: percent (e.g. 10) or instances (e.g. 3)")
        }
        guard wire.bakeMs >= 0 else { throw invalid("\(field).bake_ms", "must not be negative; 0 widens as soon as every canary acked") }
        self.init(size: size, bake: wire.bakeMs, maxUnhealthy: Int(wire.maxUnhealthy))
    }
}

extension RolloutPhase {
    public var wire: Gatehouse_V1_RolloutPhase {
        switch self {
        case .running: .running
        case .paused: .paused
        case .completed: .completed
        case .rolledBack: .rolledBack
        case .aborted: .aborted
        }
    }

    public init(wire: Gatehouse_V1_RolloutPhase, field: String) throws(GateError) {
        switch wire {
        case .running: self = .running
        case .paused: self = .paused
        case .completed: self = .completed
        case .rolledBack: self = .rolledBack
        case .aborted: self = .aborted
        case .unspecified, .UNRECOGNIZED: throw invalid(field, "a phase is required: RUNNING, PAUSED, COMPLETED, ROLLED_BACK or ABORTED")
        }
    }
}

extension Rollout {
    /// What was asked for, as `RolloutSpec`.
    public var wireSpec: Gatehouse_V1_RolloutSpec {
        .with { spec in
            spec.name = self.name
            spec.target = self.target.wire
            spec.enabled = self.enabled
            spec.params = self.parameters.mapValues(\.wire)
            spec.component = self.component
            spec.labels = self.labels
            spec.minVersion = self.minimumVersion?.description ?? ""
            spec.steps = self.steps.map(\.wire)
            spec.disconnectGraceMs = self.disconnectGrace
        }
    }

    /// The stored rollout on the wire; `revision` is the revision of its last transition.
    public func wire(revision: Revision) -> Gatehouse_V1_Rollout {
        .with { rollout in
            rollout.spec = self.wireSpec
            rollout.phase = self.phase.wire
            rollout.step = UInt32(clamping: self.step)
            rollout.threshold = self.threshold
            rollout.stepStartedUnixMs = self.stepStartedAt.rawValue
            rollout.bakeDeadlineUnixMs = self.bakeDeadline?.rawValue ?? 0
            rollout.bakeRemainingMs = self.bakeRemaining ?? 0
            rollout.stepRevision = self.stepRevision.rawValue
            rollout.message = self.message
            rollout.actor = self.actor
            rollout.createdAtUnixMs = self.createdAt.rawValue
            rollout.revision = revision.rawValue
        }
    }

    /// A rollout as a Start asks for it: running, at its first step, nothing
    /// stamped yet (the state machine sets the threshold, times and revision).
    ///
    /// - Parameters:
    ///   - spec: the request's spec; an empty name is kept empty (the server names it).
    ///   - actor: who starts it.
    ///   - field: the request field's path, for refusals.
    public init(wire spec: Gatehouse_V1_RolloutSpec, actor: String, field: String) throws(GateError) {
        guard spec.hasTarget else { throw invalid("\(field).target", "a rollout needs a target: a feature or an API") }
        let target = try RolloutTarget(wire: spec.target, field: "\(field).target")
        let parameters = try ParameterValue.map(spec.params, field: "\(field).params")
        if case .api = target, !parameters.isEmpty {
            throw invalid("\(field).params", "APIs take no parameters")
        }
        guard !spec.component.isEmpty else {
            throw invalid("\(field).component", "a rollout covers the instances of one component; name it")
        }
        var minimum: Version?
        if !spec.minVersion.isEmpty {
            minimum = try Version(parsing: spec.minVersion)
        }
        guard !spec.steps.isEmpty else {
            throw invalid("\(field).steps", "a rollout needs at least one step, e.g. 1% → 10% → 50% → 100%")
        }
        var steps: [RolloutStep] = []
        for (index, step) in spec.steps.enumerated() {
            steps.append(try RolloutStep(wire: step, field: "\(field).steps[\(index)]"))
        }
        guard spec.disconnectGraceMs >= 0 else {
            throw invalid("\(field).disconnect_grace_ms", "must not be negative; 0 takes the server's default (30 s)")
        }
        self.init(
            name: spec.name,
            target: target,
            enabled: spec.enabled,
            parameters: parameters,
            component: spec.component,
            labels: spec.labels,
            minimumVersion: minimum,
            steps: steps,
            disconnectGrace: spec.disconnectGraceMs == 0 ? Rollout.defaultDisconnectGrace : spec.disconnectGraceMs,
            actor: actor
        )
    }
}
