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

/// The effective state of one API for this instance: reference, whether the
/// component serves it, and its stage (the offline policy depends on it).
/// The same value the server computes and pushes.
public typealias APIState = PushedAPI
