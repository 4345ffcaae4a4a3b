import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseStore
import GatehouseWire

/// The read side: served from the committed snapshot, never waiting for the writer.
extension GateService {
    func listFeatures(_ request: Gatehouse_V1_ListFeaturesRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ListFeaturesResponse {
        let state = self.state
        let stage: Stage? = try request.stagePresent.map { present in
            switch present { case .stage(let stage): try GateService.mapping { try Stage(wire: stage, field: "stage") } }
        }
        let features = state.features.values
            .filter { request.component.isEmpty || $0.value.applies(to: request.component) }
            .filter { stage == nil || $0.value.stage == stage }
            .filter { request.namePrefix.isEmpty || $0.value.name.hasPrefix(request.namePrefix) }
            .sorted { $0.value.name < $1.value.name }
        return .with {
            $0.features = features.map { $0.value.wire(revision: $0.revision) }
            $0.revision = state.revision.rawValue
        }
    }

    func getFeature(_ request: Gatehouse_V1_GetFeatureRequest, context: RPCServerContext) async throws -> Gatehouse_V1_GetFeatureResponse {
        let state = self.state
        guard let feature = state.features[request.name] else {
            throw RPCError(.notFound, "no feature named \"\(request.name)\"; `gatectl features list` shows them")
        }
        return .with {
            $0.feature = feature.value.wire(revision: feature.revision)
            $0.overrides = state.overrides(ofFeature: request.name).map(Self.wire)
            $0.revision = state.revision.rawValue
            $0.knownBy = state.builds(knowing: request.name).map { "\($0.component) \($0.version)" }
        }
    }

    func listAPIs(_ request: Gatehouse_V1_ListApisRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ListApisResponse {
        let state = self.state
        let stage: Stage? = try request.stagePresent.map { present in
            switch present { case .stage(let stage): try GateService.mapping { try Stage(wire: stage, field: "stage") } }
        }
        let apis = state.apis.values
            .filter { request.component.isEmpty || $0.value.applies(to: request.component) }
            .filter { stage == nil || $0.value.stage == stage }
            .filter { request.group.isEmpty || $0.value.ref.group == request.group }
            .sorted { $0.value.ref < $1.value.ref }
        return .with {
            $0.apis = apis.map { $0.value.wire(revision: $0.revision) }
            $0.revision = state.revision.rawValue
        }
    }

    func getAPI(_ request: Gatehouse_V1_GetApiRequest, context: RPCServerContext) async throws -> Gatehouse_V1_GetApiResponse {
        let state = self.state
        let ref = try GateService.mapping { try APIRef(wire: request.api, field: "api") }
        guard let api = state.apis[ref] else {
            throw RPCError(.notFound, "no API \(ref); `gatectl apis list` shows them")
        }
        return .with {
            $0.api = api.value.wire(revision: api.revision)
            $0.overrides = state.overrides(coveringAPI: api.value).map(Self.wire)
            $0.revision = state.revision.rawValue
        }
    }

    /// The effective state of a component or one of its instances, with the rule behind each value.
    func explain(_ request: Gatehouse_V1_ExplainRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ExplainResponse {
        let principal = self.authorizer.principal(of: context)
        guard !request.component.isEmpty else {
            throw RPCError(.invalidArgument, "component: name the component to explain, e.g. kube-apiserver")
        }
        guard principal.mayActFor(component: request.component) else {
            throw RPCError(.permissionDenied, "\(principal.name) may read only its own component's state, not \(request.component)'s")
        }
        let resolver = Resolver(state: self.state)
        let effective: EffectiveState
        if request.instanceID.isEmpty {
            effective = resolver.resolve(scope: .component(request.component))
        } else {
            let version = self.liveReplicas().instance(component: request.component, id: request.instanceID)?.version
            effective = resolver.resolve(InstanceRef(component: request.component, instanceID: request.instanceID, version: version))
        }
        var response = effective.wireExplanation
        let features = Set(request.features)
        let apis = Set(request.apis.map { "\($0.group)/\($0.version)/\($0.resource)" })
        response.entries = response.entries.filter { entry in
            switch entry.target {
            case .feature(let feature):
                return !request.skipFeatures && (features.isEmpty || features.contains(feature.name))
            case .api(let api):
                return !request.skipApis && (apis.isEmpty || apis.contains("\(api.api.group)/\(api.api.version)/\(api.api.resource)"))
            case nil:
                return false
            }
        }
        return response
    }

    func history(_ request: Gatehouse_V1_HistoryRequest, context: RPCServerContext) async throws -> Gatehouse_V1_HistoryResponse {
        let limit = request.limit == 0 ? 100 : Int(min(request.limit, 1000))
        var subjects: [String] = []
        if !request.feature.isEmpty { subjects.append("feature:\(request.feature)") }
        if !request.component.isEmpty { subjects.append("component:\(request.component)") }
        if request.hasApi {
            let selector = try GateService.mapping { try APISelector(wire: request.api, field: "api") }
            subjects.append("api:\(selector)")
        }
        let after: UInt64 = request.afterRevisionPresent.map { switch $0 { case .afterRevision(let value): value + 1 } } ?? 1
        let before: UInt64 = request.beforeRevisionPresent.map { switch $0 { case .beforeRevision(let value): value == 0 ? 0 : value - 1 } } ?? UInt64.max
        guard after <= before else { return .with { $0.revision = self.state.revision.rawValue } }
        var query = AuditQuery(
            subject: subjects.first,
            actor: request.actor.isEmpty ? nil : request.actor,
            revisions: Revision(after)...Revision(before),
            limit: limit + 1
        )
        query.alsoSubjects = Array(subjects.dropFirst())
        query.oldestFirst = !request.newestFirst
        var records = try await self.store.history(query)
        let more = records.count > limit
        records = Array(records.prefix(limit))
        return .with {
            $0.entries = records.map(Self.wire)
            $0.more = more
            $0.revision = self.state.revision.rawValue
        }
    }

    // MARK: - Wire forms of stored values

    static func wire(_ override: FeatureOverride) -> Gatehouse_V1_Override {
        .with { wire in
            wire.feature = override.feature
            wire.scope = override.scope.wire
            if let enabled = override.enabled { wire.enabled = enabled }
            wire.params = override.parameters.mapValues(\.wire)
            wire.revision = override.stamp.revision.rawValue
            wire.actor = override.stamp.actor
            wire.updatedAtUnixMs = override.stamp.time.rawValue
            wire.reason = override.stamp.reason
        }
    }

    static func wire(_ override: APIOverride) -> Gatehouse_V1_Override {
        .with { wire in
            wire.api = override.selector.wire
            wire.scope = override.scope.wire
            wire.enabled = override.enabled
            wire.revision = override.stamp.revision.rawValue
            wire.actor = override.stamp.actor
            wire.updatedAtUnixMs = override.stamp.time.rawValue
            wire.reason = override.stamp.reason
        }
    }

    static func wire(_ record: AuditRecord) -> Gatehouse_V1_AuditEntry {
        .with { entry in
            entry.revision = record.revision.rawValue
            entry.timeUnixMs = record.entry.timeUnixMilliseconds
            entry.actor = record.entry.actor
            entry.method = record.entry.method
            entry.reason = record.entry.reason
            entry.beforeJson = String(decoding: record.entry.before, as: UTF8.self)
            entry.afterJson = String(decoding: record.entry.after, as: UTF8.self)
            entry.subjects = record.entry.subjects
            entry.changes = Self.changeLines(before: record.entry.before, after: record.entry.after)
        }
    }

    /// "created/updated/removed kind name" per object, from the audit JSON's keys.
    static func changeLines(before: [UInt8], after: [UInt8]) -> [String] {
        func keys(_ json: [UInt8]) -> Set<String> {
            guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return [] }
            return Set(object.keys)
        }
        let old = keys(before)
        let new = keys(after)
        return old.union(new).sorted().map { key in
            let verb = old.contains(key) ? (new.contains(key) ? "updated" : "removed") : "created"
            return "\(verb) \(key.replacingOccurrences(of: "/", with: " ", options: [], range: key.range(of: "/")))"
        }
    }
}
