/// A staged (canary) rollout: one feature or API set to one value on a
/// growing share of a component's instances, widened step by step while the
/// canaries stay healthy.
///
/// A rollout is one stored object whatever the fleet size: which instances
/// are canaries is not stored but computed, by ``bucket(of:)`` (a hash of the
/// rollout's name and the instance id) against ``threshold``. Widening only
/// raises the threshold, so a canary stays one (sticky, monotone), and an
/// instance that joins later is in or out by the same rule.
public struct Rollout: Hashable, Sendable, Codable {
    public var name: String
    public var target: RolloutTarget
    /// The value canaries get.
    public var enabled: Bool
    /// Parameter values canaries get with it (features only).
    public var parameters: [String: ParameterValue]
    public var component: String
    /// Only instances registered with every one of these labels.
    public var labels: [String: String]
    /// Only instances at this version or newer; nil: any.
    public var minimumVersion: Version?
    public var steps: [RolloutStep]
    /// How long a canary that applied the change may be disconnected before it counts as unhealthy.
    public var disconnectGrace: Int64

    public var phase: RolloutPhase
    /// Index into ``steps`` of the current step.
    public var step: Int
    /// Canaries are the selected instances whose bucket is below this, in [0, 1].
    public var threshold: Double
    public var stepStartedAt: UnixMilliseconds
    /// When the current step's bake ends while running; nil otherwise.
    public var bakeDeadline: UnixMilliseconds?
    /// Bake time left, in milliseconds, while paused; nil otherwise.
    public var bakeRemaining: Int64?
    /// The revision that entered the current step: canaries count as healthy only once they acked it.
    public var stepRevision: Revision
    /// Why it ended, or why it is paused; empty otherwise.
    public var message: String
    public var actor: String
    public var createdAt: UnixMilliseconds
    /// The revision that last wrote this record (stamped by ``BatchApplier``).
    public var revision: Revision

    public static let defaultDisconnectGrace: Int64 = 30_000
    public static let maximumSteps = 16

    /// Stored and audited as JSON with the same snake_case keys as every other stored object.
    private enum CodingKeys: String, CodingKey {
        case name
        case target
        case enabled
        case parameters
        case component
        case labels
        case minimumVersion = "min_version"
        case steps
        case disconnectGrace = "disconnect_grace_ms"
        case phase
        case step
        case threshold
        case stepStartedAt = "step_started_at"
        case bakeDeadline = "bake_deadline"
        case bakeRemaining = "bake_remaining_ms"
        case stepRevision = "step_revision"
        case message
        case actor
        case createdAt = "created_at"
        case revision
    }

    public init(
        name: String,
        target: RolloutTarget,
        enabled: Bool,
        parameters: [String: ParameterValue] = [:],
        component: String,
        labels: [String: String] = [:],
        minimumVersion: Version? = nil,
        steps: [RolloutStep],
        disconnectGrace: Int64 = Rollout.defaultDisconnectGrace,
        phase: RolloutPhase = .running,
        step: Int = 0,
        threshold: Double = 0,
        stepStartedAt: UnixMilliseconds = UnixMilliseconds(0),
        bakeDeadline: UnixMilliseconds? = nil,
        bakeRemaining: Int64? = nil,
        stepRevision: Revision = .zero,
        message: String = "",
        actor: String = "",
        createdAt: UnixMilliseconds = UnixMilliseconds(0),
        revision: Revision = .zero
    ) {
        self.name = name
        self.target = target
        self.enabled = enabled
        self.parameters = parameters
        self.component = component
        self.labels = labels
        self.minimumVersion = minimumVersion
        self.steps = steps
        self.disconnectGrace = disconnectGrace
        self.phase = phase
        self.step = step
        self.threshold = threshold
        self.stepStartedAt = stepStartedAt
        self.bakeDeadline = bakeDeadline
        self.bakeRemaining = bakeRemaining
        self.stepRevision = stepRevision
        self.message = message
        self.actor = actor
        self.createdAt = createdAt
        self.revision = revision
    }

    /// Whether it still decides anything: running, paused or completed.
    public var isInEffect: Bool {
        switch self.phase {
        case .running, .paused, .completed: true
        case .rolledBack, .aborted: false
        }
    }

    /// Whether it may still change: running or paused.
    public var isActive: Bool {
        switch self.phase {
        case .running, .paused: true
        case .completed, .rolledBack, .aborted: false
        }
    }

    /// The instance's bucket in [0, 1): where it falls in this rollout's order.
    ///
    /// A fixed hash (FNV-1a, then a 64-bit finaliser so that ids differing in
    /// one character spread evenly) of the rollout's name and the instance id:
    /// the same on every server, process and restart, unlike `Hasher`. Hashing
    /// the rollout's name too means each rollout picks different canaries.
    public func bucket(of instanceID: String) -> Double {
        Self.bucket(rollout: self.name, instanceID: instanceID)
    }

    /// See ``bucket(of:)``.
    public static func bucket(rollout: String, instanceID: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in rollout.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        hash = (hash ^ 0) &* 0x0000_0100_0000_01b3  // separator: ("ab","c") and ("a","bc") differ
        for byte in instanceID.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        // splitmix64's finaliser.
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        // The top 53 bits, as a double in [0, 1).
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }

    /// Whether the rollout's selection covers the instance: its component,
    /// every label, the minimum version. An instance with no version is
    /// covered only when the rollout asks for none.
    public func selects(_ instance: InstanceRef, labels: [String: String]) -> Bool {
        guard instance.component == self.component else { return false }
        for (key, value) in self.labels where labels[key] != value {
            return false
        }
        if let minimum = self.minimumVersion {
            guard let version = instance.version, version >= minimum else { return false }
        }
        return true
    }

    /// Whether the instance is a canary now: selected, in effect, and bucketed below the threshold.
    /// A completed rollout covers its whole selection.
    public func includes(_ instance: InstanceRef, labels: [String: String]) -> Bool {
        guard self.isInEffect, self.selects(instance, labels: labels) else { return false }
        return self.phase == .completed || self.bucket(of: instance.instanceID) < self.threshold
    }
}

/// What a rollout changes.
public enum RolloutTarget: Hashable, Sendable {
    case feature(String)
    case api(APIRef)
}

extension RolloutTarget: CustomStringConvertible {
    /// `feature GracefulShutdown` or `API batch/v1beta1`.
    public var description: String {
        switch self {
        case .feature(let name): "feature \(name)"
        case .api(let ref): "API \(ref)"
        }
    }
}

/// One step of a rollout.
public struct RolloutStep: Hashable, Sendable, Codable {
    public var size: Size
    /// How long the step's canaries must stay healthy before the next step, in milliseconds.
    public var bake: Int64
    /// Canaries that may be unhealthy before the rollout rolls back.
    public var maxUnhealthy: Int

    public enum Size: Hashable, Sendable {
        /// A share of the selection, in (0, 100].
        case percent(Double)
        /// A number of selected instances, fixed when the step starts.
        case instances(Int)
    }

    private enum CodingKeys: String, CodingKey {
        case size
        case bake = "bake_ms"
        case maxUnhealthy = "max_unhealthy"
    }

    public init(size: Size, bake: Int64 = 0, maxUnhealthy: Int = 0) {
        self.size = size
        self.bake = bake
        self.maxUnhealthy = maxUnhealthy
    }
}

extension RolloutStep.Size: CustomStringConvertible {
    /// `10%` or `3 instances`.
    public var description: String {
        switch self {
        case .percent(let value):
            value == value.rounded() ? "\(Int(value))%" : "\(value)%"
        case .instances(let count):
            count == 1 ? "1 instance" : "\(count) instances"
        }
    }
}

/// Where a rollout is in its life.
public enum RolloutPhase: String, Hashable, Sendable, Codable, CaseIterable {
    /// Widening as its canaries stay healthy.
    case running
    /// Held at its step by an operator; the bake clock is stopped.
    case paused
    /// Reached and baked its last step: in effect for the whole selection.
    case completed
    /// Rolled back on its own (unhealthy canaries): in effect for no one.
    case rolledBack = "rolled_back"
    /// Rolled back by an operator: in effect for no one.
    case aborted
}

extension RolloutTarget: Codable {
    private enum CodingKeys: String, CodingKey {
        case feature
        case api
    }

    /// `{"feature":"Foo"}` or `{"api":"batch/v1beta1"}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let name = try container.decodeIfPresent(String.self, forKey: .feature) {
            self = .feature(name)
        } else {
            self = .api(try container.decode(APIRef.self, forKey: .api))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .feature(let name): try container.encode(name, forKey: .feature)
        case .api(let ref): try container.encode(ref, forKey: .api)
        }
    }
}

extension RolloutStep.Size: Codable {
    private enum CodingKeys: String, CodingKey {
        case percent
        case instances
    }

    /// `{"percent":10}` or `{"instances":3}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let percent = try container.decodeIfPresent(Double.self, forKey: .percent) {
            self = .percent(percent)
        } else {
            self = .instances(try container.decode(Int.self, forKey: .instances))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .percent(let value): try container.encode(value, forKey: .percent)
        case .instances(let count): try container.encode(count, forKey: .instances)
        }
    }
}
