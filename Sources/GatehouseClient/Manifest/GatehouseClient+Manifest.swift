import GatehouseCore
import GatehouseWire

/// The server's overrides as a manifest, read at one revision.
public struct ServerManifest: Sendable {
    /// Every override the server holds.
    public var manifest: GateManifest
    /// The revision every read saw: what an apply conditions its batch on.
    public var revision: UInt64
    /// The catalog's feature definitions by name: what a manifest's parameters are typed by.
    public var features: [String: FeatureDefinition]
}

extension GatehouseClient {
    /// Every override the server holds, read feature by feature and API by API
    /// (`Features/List`, `Features/Get`, `Apis/List`, `Apis/Get`), all at one revision.
    ///
    /// The reads are not one snapshot, so they are checked to have seen the same revision;
    /// when a write lands between them they are read again (up to `attempts` times), then
    /// UNAVAILABLE asks to retry.
    public func serverManifest(attempts: Int = 5) async throws -> ServerManifest {
        var revisions: Set<UInt64> = []
        for _ in 0..<max(1, attempts) {
            let (read, seen) = try await self.readManifestOnce()
            if seen.count == 1, let revision = seen.first {
                return ServerManifest(manifest: read.manifest, revision: revision, features: read.features)
            }
            revisions.formUnion(seen)
        }
        let range = revisions.sorted()
        throw RPCError(
            .unavailable,
            "the gate state kept changing while it was read (r\(range.first ?? 0) to r\(range.last ?? 0)); retry when writes are quieter"
        )
    }

    private func readManifestOnce() async throws -> (ServerManifest, Set<UInt64>) {
        var revisions: Set<UInt64> = []
        var manifest = GateManifest()
        var features: [String: FeatureDefinition] = [:]
        let list = try await self.listFeatures(Gatehouse_V1_ListFeaturesRequest())
        revisions.insert(list.revision)
        for feature in list.features {
            features[feature.name] = try FeatureDefinition(wire: feature, field: "feature")
            let got = try await self.getFeature(named: feature.name)
            revisions.insert(got.revision)
            for (index, override) in got.overrides.enumerated() {
                let scope = try Scope(wire: override.scope, field: "overrides[\(index)].scope")
                var parameters: [String: ParameterValue] = [:]
                for (name, value) in override.params {
                    parameters[name] = try ParameterValue(wire: value, field: "overrides[\(index)].params[\(name)]")
                }
                let enabled: Bool? = override.enabledPresent.map { switch $0 { case .enabled(let value): value } }
                manifest.features[FeatureOverrideKey(feature: feature.name, scope: scope)] = FeatureSetting(enabled: enabled, parameters: parameters)
            }
        }
        let apis = try await self.listAPIs(Gatehouse_V1_ListApisRequest())
        revisions.insert(apis.revision)
        for api in apis.apis {
            let got = try await self.getAPI(.with { $0.group = api.group; $0.version = api.version; $0.resource = api.resource })
            revisions.insert(got.revision)
            for (index, override) in got.overrides.enumerated() {
                // An API's overrides include every selector that covers it (api/all, its stage, its group/version).
                let selector = try APISelector(wire: override.api, field: "overrides[\(index)].api")
                let scope = try Scope(wire: override.scope, field: "overrides[\(index)].scope")
                guard case .enabled(let enabled)? = override.enabledPresent else { continue }
                manifest.apis[APIOverrideKey(selector: selector, scope: scope)] = enabled
            }
        }
        return (ServerManifest(manifest: manifest, revision: list.revision, features: features), revisions)
    }
}
