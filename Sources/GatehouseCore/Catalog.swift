/// The declared features and APIs: what a catalog file holds.
///
/// Field names are snake_case so the server can decode a YAML file straight
/// into it (with Yams; the core reads no files). Import it with
/// `ChangeBatch.importing(_:actor:reason:)` after `validate()`:
///
/// ```yaml
/// features:
///   - name: SidecarContainers
///     stage: beta
///     default_enabled: true
///     components: [kubelet, kube-apiserver]
/// apis:
///   - api: batch/v1
///     stage: ga
/// ```
public struct Catalog: Hashable, Sendable {
    public var features: [FeatureDefinition]
    public var apis: [APIDefinition]

    public init(features: [FeatureDefinition] = [], apis: [APIDefinition] = []) {
        self.features = features
        self.apis = apis
    }
}

extension Catalog: Codable {
    private enum CodingKeys: String, CodingKey {
        case features
        case apis
    }

    /// Either list may be left out of a file.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            features: try container.decodeIfPresent([FeatureDefinition].self, forKey: .features) ?? [],
            apis: try container.decodeIfPresent([APIDefinition].self, forKey: .apis) ?? []
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.features, forKey: .features)
        try container.encode(self.apis, forKey: .apis)
    }
}
