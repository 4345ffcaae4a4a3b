/// One activatable API as declared in the catalog: a group/version or a resource in one.
///
/// Defaults follow Kubernetes: GA on; beta off (new beta APIs are off since
/// 1.24, but Kubernetes keeps some older betas on, so `defaultEnabled` may
/// say so explicitly); alpha off; deprecated on unless explicitly off (a
/// removed API is modelled as `deprecated` with `default_enabled: false`).
public struct APIDefinition: Hashable, Sendable {
    public var ref: APIRef
    public var stage: Stage
    /// An explicit default; nil means "by stage" (see `effectiveDefault`).
    public var defaultEnabled: Bool?
    /// Components that serve it (usually `kube-apiserver`); empty means every component.
    public var components: [String] {
        didSet { self.components = Array(Set(self.components)).sorted() }
    }
    public var description: String

    public init(
        _ ref: APIRef,
        stage: Stage,
        defaultEnabled: Bool? = nil,
        components: [String] = [],
        description: String = ""
    ) {
        self.ref = ref
        self.stage = stage
        self.defaultEnabled = defaultEnabled
        self.components = Array(Set(components)).sorted()
        self.description = description
    }

    /// The value when no selector override matches it.
    public var effectiveDefault: Bool {
        self.defaultEnabled ?? Self.stageDefault(self.stage)
    }

    /// Kubernetes' rule: GA and deprecated on, beta and alpha off.
    public static func stageDefault(_ stage: Stage) -> Bool {
        switch stage {
        case .ga, .deprecated: true
        case .alpha, .beta: false
        }
    }

    /// Whether `component` serves this API.
    public func applies(to component: String) -> Bool {
        self.components.isEmpty || self.components.contains(component)
    }
}

extension APIDefinition: Codable {
    private enum CodingKeys: String, CodingKey {
        case ref = "api"
        case stage
        case defaultEnabled = "default_enabled"
        case components
        case description
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try container.decode(APIRef.self, forKey: .ref),
            stage: try container.decode(Stage.self, forKey: .stage),
            defaultEnabled: try container.decodeIfPresent(Bool.self, forKey: .defaultEnabled),
            components: try container.decodeIfPresent([String].self, forKey: .components) ?? [],
            description: try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.ref, forKey: .ref)
        try container.encode(self.stage, forKey: .stage)
        try container.encodeIfPresent(self.defaultEnabled, forKey: .defaultEnabled)
        if !self.components.isEmpty { try container.encode(self.components, forKey: .components) }
        if !self.description.isEmpty { try container.encode(self.description, forKey: .description) }
    }
}
