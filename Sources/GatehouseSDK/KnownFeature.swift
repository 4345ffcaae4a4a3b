/// A feature as compiled into the component binary.
///
/// Each one is registered with the server (so admins see what a binary can
/// do, and the server warns about mismatches) and is the component's own
/// default when it boots without any server state.
public struct KnownFeature: Hashable, Sendable {
    public var name: String
    public var stage: Stage
    public var defaultEnabled: Bool
    /// The binary ignores attempts to change it (Kubernetes locks GA gates to their default).
    public var lockedToDefault: Bool
    /// Parameter values used until a server says otherwise; never sent (the server owns parameter specs).
    public var defaultParameters: [String: ParameterValue]
    /// What happens when the component runs offline for longer than the TTL; nil follows the stage.
    public var offlineBehavior: OfflineBehavior?

    public init(
        _ name: String,
        stage: Stage,
        defaultEnabled: Bool,
        lockedToDefault: Bool = false,
        defaultParameters: [String: ParameterValue] = [:],
        offlineBehavior: OfflineBehavior? = nil
    ) {
        self.name = name
        self.stage = stage
        self.defaultEnabled = defaultEnabled
        self.lockedToDefault = lockedToDefault
        self.defaultParameters = defaultParameters
        self.offlineBehavior = offlineBehavior
    }

    /// The compiled-in state: the default, with the default parameters.
    var defaultState: FeatureState {
        FeatureState(enabled: self.defaultEnabled, parameters: self.defaultParameters, stage: self.stage)
    }
}

/// An API (group/version, or one resource in it) as compiled into the component binary.
public struct KnownAPI: Hashable, Sendable {
    public var ref: APIRef
    public var stage: Stage
    public var defaultEnabled: Bool
    /// What happens when the component runs offline for longer than the TTL; nil follows the stage.
    public var offlineBehavior: OfflineBehavior?

    /// - Parameter defaultEnabled: nil takes Kubernetes' rule for the stage (GA and deprecated on, beta and alpha off).
    public init(_ ref: APIRef, stage: Stage, defaultEnabled: Bool? = nil, offlineBehavior: OfflineBehavior? = nil) {
        self.ref = ref
        self.stage = stage
        self.defaultEnabled = defaultEnabled ?? APIDefinition.stageDefault(stage)
        self.offlineBehavior = offlineBehavior
    }

    /// Parses `group/version[/resource]` as Kubernetes' `--runtime-config` spells it.
    public init(_ text: String, stage: Stage, defaultEnabled: Bool? = nil, offlineBehavior: OfflineBehavior? = nil) throws(GateError) {
        self.init(try APIRef(parsing: text), stage: stage, defaultEnabled: defaultEnabled, offlineBehavior: offlineBehavior)
    }

    var defaultState: APIState {
        APIState(ref: self.ref, enabled: self.defaultEnabled, stage: self.stage)
    }
}
