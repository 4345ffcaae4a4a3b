import GatehouseCore
import GatehouseProto

extension FeatureDefinition {
    /// The wire form, stamped with the revision that last changed it.
    public func wire(revision: Revision) -> Gatehouse_V1_Feature {
        .with { feature in
            feature.name = self.name
            feature.components = self.components
            feature.stage = self.stage.wire
            feature.defaultEnabled = self.defaultEnabled
            feature.lockedToDefault = self.lockToDefault
            feature.description_p = self.description
            feature.dependencies = self.dependencies
            feature.minComponentVersions = self.minimumVersions.mapValues(\.description)
            feature.parameters = self.parameters.map(\.wire)
            feature.revision = revision.rawValue
        }
    }

    public init(wire: Gatehouse_V1_Feature, field: String) throws(GateError) {
        guard !wire.name.isEmpty else { throw invalid("\(field).name", "a feature name is required") }
        var versions: [String: Version] = [:]
        for (component, text) in wire.minComponentVersions {
            versions[component] = try Version(parsing: text)
        }
        var parameters: [ParameterSpec] = []
        for (index, spec) in wire.parameters.enumerated() {
            parameters.append(try ParameterSpec(wire: spec, field: "\(field).parameters[\(index)]"))
        }
        self.init(
            name: wire.name,
            components: wire.components,
            stage: try Stage(wire: wire.stage, field: "\(field).stage"),
            defaultEnabled: wire.defaultEnabled,
            lockToDefault: wire.lockedToDefault,
            description: wire.description_p,
            dependencies: wire.dependencies,
            minimumVersions: versions,
            parameters: parameters
        )
    }
}

extension APIDefinition {
    public func wire(revision: Revision) -> Gatehouse_V1_Api {
        .with { api in
            api.group = self.ref.group
            api.version = self.ref.version
            api.resource = self.ref.resource ?? ""
            api.stage = self.stage.wire
            api.components = self.components
            api.description_p = self.description
            api.defaultEnabled = self.effectiveDefault
            api.revision = revision.rawValue
        }
    }

    /// From the wire. `default_enabled` is output only (features.proto): proto3
    /// cannot tell an absent bool from `false`, so reading it made a GA API
    /// defined without it resolve off. The default is the stage's; an explicit
    /// one (an old beta kept on, a removed API) comes from a catalog file.
    public init(wire: Gatehouse_V1_Api, field: String) throws(GateError) {
        guard !wire.version.isEmpty else { throw invalid("\(field).version", "a version is required, e.g. v1") }
        let ref = APIRef(group: wire.group, version: wire.version, resource: wire.resource.isEmpty ? nil : wire.resource)
        let stage = try Stage(wire: wire.stage, field: "\(field).stage")
        self.init(ref, stage: stage, defaultEnabled: nil, components: wire.components, description: wire.description_p)
    }
}
