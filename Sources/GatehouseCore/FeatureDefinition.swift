/// One fine-grained feature gate, as declared in the catalog.
///
/// Mirrors Kubernetes' `FeatureSpec` (default, stage, lock-to-default) and
/// adds what Kubernetes leaves to each binary: which components the gate
/// applies to, what it needs, the oldest component version that knows it, and
/// typed parameters. Lists are kept sorted and free of repeats so equal
/// definitions compare and encode equal whatever order they were written in.
public struct FeatureDefinition: Hashable, Sendable {
    /// The gate's name, e.g. `InPlacePodVerticalScaling`.
    public var name: String
    /// Components the gate applies to (`kubelet`, `kube-apiserver`, …); empty means every component.
    public var components: [String] {
        didSet { self.components = Self.normalized(self.components) }
    }
    public var stage: Stage
    /// The value when nothing overrides it.
    public var defaultEnabled: Bool
    /// When true the gate always resolves to `defaultEnabled` and overrides against it are refused
    /// (Kubernetes locks GA gates before removing them).
    public var lockToDefault: Bool
    public var description: String
    /// Features this one needs enabled wherever it is enabled.
    public var dependencies: [String] {
        didSet { self.dependencies = Self.normalized(self.dependencies) }
    }
    /// The oldest version of each component that implements the gate; older replicas resolve it off
    /// and block enabling it (the skew guard).
    public var minimumVersions: [String: Version]
    public var parameters: [ParameterSpec]

    public init(
        name: String,
        components: [String] = [],
        stage: Stage,
        defaultEnabled: Bool,
        lockToDefault: Bool = false,
        description: String = "",
        dependencies: [String] = [],
        minimumVersions: [String: Version] = [:],
        parameters: [ParameterSpec] = []
    ) {
        self.name = name
        self.components = Self.normalized(components)
        self.stage = stage
        self.defaultEnabled = defaultEnabled
        self.lockToDefault = lockToDefault
        self.description = description
        self.dependencies = Self.normalized(dependencies)
        self.minimumVersions = minimumVersions
        self.parameters = parameters
    }

    /// Whether the gate applies to `component`.
    public func applies(to component: String) -> Bool {
        self.components.isEmpty || self.components.contains(component)
    }

    /// Whether resolution can turn the gate off against its decided value:
    /// only a gate that needs others or a minimum version can (see `Resolver`).
    var hasResolutionRules: Bool {
        !self.dependencies.isEmpty || !self.minimumVersions.isEmpty
    }

    /// The parameter called `name`, if declared.
    public func parameter(named name: String) -> ParameterSpec? {
        self.parameters.first { $0.name == name }
    }

    private static func normalized(_ names: [String]) -> [String] {
        Array(Set(names)).sorted()
    }
}

extension FeatureDefinition: Codable {
    private enum CodingKeys: String, CodingKey {
        case name
        case components
        case stage
        case defaultEnabled = "default_enabled"
        case lockToDefault = "lock_to_default"
        case description
        case dependencies
        case minimumVersions = "min_component_versions"
        case parameters
    }

    /// Decodes a catalog entry; everything but `name`, `stage` and `default_enabled` is optional.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            components: try container.decodeIfPresent([String].self, forKey: .components) ?? [],
            stage: try container.decode(Stage.self, forKey: .stage),
            defaultEnabled: try container.decode(Bool.self, forKey: .defaultEnabled),
            lockToDefault: try container.decodeIfPresent(Bool.self, forKey: .lockToDefault) ?? false,
            description: try container.decodeIfPresent(String.self, forKey: .description) ?? "",
            dependencies: try container.decodeIfPresent([String].self, forKey: .dependencies) ?? [],
            minimumVersions: try container.decodeIfPresent([String: Version].self, forKey: .minimumVersions) ?? [:],
            parameters: try container.decodeIfPresent([ParameterSpec].self, forKey: .parameters) ?? []
        )
    }

    /// Encodes with empty optional fields left out, so a written catalog reads like a hand-written one.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        if !self.components.isEmpty { try container.encode(self.components, forKey: .components) }
        try container.encode(self.stage, forKey: .stage)
        try container.encode(self.defaultEnabled, forKey: .defaultEnabled)
        if self.lockToDefault { try container.encode(true, forKey: .lockToDefault) }
        if !self.description.isEmpty { try container.encode(self.description, forKey: .description) }
        if !self.dependencies.isEmpty { try container.encode(self.dependencies, forKey: .dependencies) }
        if !self.minimumVersions.isEmpty { try container.encode(self.minimumVersions, forKey: .minimumVersions) }
        if !self.parameters.isEmpty { try container.encode(self.parameters, forKey: .parameters) }
    }
}
