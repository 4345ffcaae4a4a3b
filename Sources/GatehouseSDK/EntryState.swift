/// The effective state of one feature for this instance.
public struct FeatureState: Hashable, Sendable {
    public var enabled: Bool
    /// Every parameter's value by name, defaults included.
    public var parameters: [String: ParameterValue]
    /// The feature's stage in the catalog; the offline policy depends on it.
    public var stage: Stage

    public init(enabled: Bool, parameters: [String: ParameterValue] = [:], stage: Stage) {
        self.enabled = enabled
        self.parameters = parameters
        self.stage = stage
    }
}

/// The effective state of one API for this instance.
public struct APIState: Hashable, Sendable {
    public var ref: APIRef
    /// Whether the component serves it.
    public var enabled: Bool
    /// The API's stage in the catalog; the offline policy depends on it.
    public var stage: Stage

    public init(ref: APIRef, enabled: Bool, stage: Stage) {
        self.ref = ref
        self.enabled = enabled
        self.stage = stage
    }
}
