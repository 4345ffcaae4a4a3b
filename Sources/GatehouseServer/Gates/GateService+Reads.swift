import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseStore
import GatehouseWire
import SwiftProtobuf

/// The read side: served from the committed snapshot, never waiting for the writer.
///
/// Every listing is paged (PROTOCOL.md 6.2): entries in key order, at most a
/// page size of them and no more than fit the caller's frame, with a
/// `next_page_token` that names the key to go on after. Later pages are cut
/// from the listing the first page built while ``ListingSnapshots`` still
/// keeps it, else from the current state. What a component's
/// certificate may see is cut down by ``ReadScope``.
extension GateService {
    func listFeatures(_ request: Gatehouse_V1_ListFeaturesRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ListFeaturesResponse {
        let scope = self.readScope(context)
        let component = try scope.filter(request.component)
        let stage: Stage? = try request.stagePresent.map { present in
            switch present { case .stage(let stage): try GateService.mapping { try Stage(wire: stage, field: "stage") } }
        }
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let paging = try self.paging(request.pageToken, method: "Features/List", filters: filters, scope: scope)
        let listing = paging.listing { state in
            state.features.values
                .filter { component == nil || $0.value.applies(to: component!) }
                .filter { stage == nil || $0.value.stage == stage }
                .filter { request.namePrefix.isEmpty || $0.value.name.hasPrefix(request.namePrefix) }
                .sorted { $0.value.name < $1.value.name }
        }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize).page(
            listing.value,
            key: \.value.name,
            after: paging.token?.after
        ) { $0.value.wire(revision: $0.revision) }
        return .with {
            $0.features = page.entries
            $0.revision = listing.revision.rawValue
            $0.nextPageToken = paging.next(page.next, listing, entries: listing.value.count)
        }
    }

    /// What a Get's pages are cut from.
    struct FeatureListing: Sendable {
        var feature: Revisioned<FeatureDefinition>
        var knownBy: [String]
        var overrides: [(key: String, override: FeatureOverride)]
    }

    func getFeature(_ request: Gatehouse_V1_GetFeatureRequest, context: RPCServerContext) async throws -> Gatehouse_V1_GetFeatureResponse {
        let scope = self.readScope(context)
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let paging = try self.paging(request.pageToken, method: "Features/Get", filters: filters, scope: scope)
        let listing = try paging.listing { state -> FeatureListing in
            guard let feature = state.features[request.name] else {
                let suggestion = ClosestName.suggestion(for: request.name, among: state.features.keys).map { "did you mean \($0)? " } ?? ""
                throw RPCError(.notFound, "no feature named \"\(request.name)\"; \(suggestion)`gatectl features list` shows them")
            }
            if let own = scope.component, !feature.value.applies(to: own) {
                throw scope.refusal("feature \(request.name), which does not apply to it")
            }
            return FeatureListing(
                feature: feature,
                knownBy: state.builds(knowing: request.name).filter { scope.mayRead(component: $0.component) }.map { "\($0.component) \($0.version)" },
                overrides: state.overrides(ofFeature: request.name)
                    .filter { scope.mayRead($0.scope) }
                    .map { (key: Self.pageKey($0.scope), override: $0) }
                    .sorted { $0.key < $1.key }
            )
        }
        var response = Gatehouse_V1_GetFeatureResponse.with {
            $0.feature = listing.value.feature.value.wire(revision: listing.value.feature.revision)
            $0.revision = listing.revision.rawValue
            $0.knownBy = listing.value.knownBy
        }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize, envelope: Pager.cost(of: response)).page(
            listing.value.overrides,
            key: \.key,
            after: paging.token?.after
        ) { Self.wire($0.override) }
        response.overrides = page.entries
        response.nextPageToken = paging.next(page.next, listing, entries: listing.value.overrides.count)
        return response
    }

    func listAPIs(_ request: Gatehouse_V1_ListApisRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ListApisResponse {
        let scope = self.readScope(context)
        let component = try scope.filter(request.component)
        let stage: Stage? = try request.stagePresent.map { present in
            switch present { case .stage(let stage): try GateService.mapping { try Stage(wire: stage, field: "stage") } }
        }
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let paging = try self.paging(request.pageToken, method: "Apis/List", filters: filters, scope: scope)
        let listing = paging.listing { state in
            state.apis.values
                .filter { component == nil || $0.value.applies(to: component!) }
                .filter { stage == nil || $0.value.stage == stage }
                .filter { request.group.isEmpty || $0.value.ref.group == request.group }
                .map { (key: Self.pageKey($0.value.ref), api: $0) }
                .sorted { $0.key < $1.key }
        }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize).page(
            listing.value,
            key: \.key,
            after: paging.token?.after
        ) { $0.api.value.wire(revision: $0.api.revision) }
        return .with {
            $0.apis = page.entries
            $0.revision = listing.revision.rawValue
            $0.nextPageToken = paging.next(page.next, listing, entries: listing.value.count)
        }
    }

    /// What an Apis/Get's pages are cut from.
    struct APIListing: Sendable {
        var api: Revisioned<APIDefinition>
        var overrides: [(key: String, override: APIOverride)]
    }

    func getAPI(_ request: Gatehouse_V1_GetApiRequest, context: RPCServerContext) async throws -> Gatehouse_V1_GetApiResponse {
        let scope = self.readScope(context)
        let ref = try GateService.mapping { try APIRef(wire: request.api, field: "api") }
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let paging = try self.paging(request.pageToken, method: "Apis/Get", filters: filters, scope: scope)
        let listing = try paging.listing { state -> APIListing in
            guard let api = state.apis[ref] else {
                throw RPCError(.notFound, "no API \(ref); `gatectl apis list` shows them")
            }
            if let own = scope.component, !api.value.applies(to: own) {
                throw scope.refusal("API \(ref), which it does not serve")
            }
            return APIListing(
                api: api,
                overrides: state.overrides(coveringAPI: api.value)
                    .filter { scope.mayRead($0.scope) }
                    .map { (key: "\(Self.pageKey($0.scope))\u{0}\($0.selector.specificity)\u{0}\($0.selector)", override: $0) }
                    .sorted { $0.key < $1.key }
            )
        }
        var response = Gatehouse_V1_GetApiResponse.with {
            $0.api = listing.value.api.value.wire(revision: listing.value.api.revision)
            $0.revision = listing.revision.rawValue
        }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize, envelope: Pager.cost(of: response)).page(
            listing.value.overrides,
            key: \.key,
            after: paging.token?.after
        ) { Self.wire($0.override) }
        response.overrides = page.entries
        response.nextPageToken = paging.next(page.next, listing, entries: listing.value.overrides.count)
        return response
    }

    /// The effective state of a component or one of its instances, with the rule behind each value.
    func explain(_ request: Gatehouse_V1_ExplainRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ExplainResponse {
        guard !request.component.isEmpty else {
            throw RPCError(.invalidArgument, "component: name the component to explain, e.g. kube-apiserver")
        }
        let scope = self.readScope(context)
        _ = try scope.filter(request.component)
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let paging = try self.paging(request.pageToken, method: "Features/Explain", filters: filters, scope: scope)
        let listing = paging.listing { state in
            let resolver = Resolver(state: state)
            let effective: EffectiveState
            if request.instanceID.isEmpty {
                effective = resolver.resolve(scope: .component(request.component))
            } else {
                // As the instance registered (connected or not): its version, and its labels,
                // which with its id decide the rollouts it is a canary of.
                let registered = self.registeredInstance(request.component, request.instanceID)
                let version = registered?.version ?? self.liveReplicas().instance(component: request.component, id: request.instanceID)?.version
                let instance = InstanceRef(component: request.component, instanceID: request.instanceID, version: version)
                effective = resolver.resolve(instance, cohorts: state.cohorts(of: instance, labels: registered?.labels ?? [:]))
            }
            let features = Set(request.features)
            let apis = Set(request.apis.map { "\($0.group)/\($0.version)/\($0.resource)" })
            // Features first, then APIs, each in key order.
            return effective.wireExplanation.entries.compactMap { entry -> (key: String, entry: Gatehouse_V1_ExplainEntry)? in
                switch entry.target {
                case .feature(let feature):
                    guard !request.skipFeatures && (features.isEmpty || features.contains(feature.name)) else { return nil }
                    return ("0\u{0}\(feature.name)", entry)
                case .api(let api):
                    guard !request.skipApis && (apis.isEmpty || apis.contains("\(api.api.group)/\(api.api.version)/\(api.api.resource)")) else { return nil }
                    return ("1\u{0}\(api.api.group)\u{0}\(api.api.version)\u{0}\(api.api.resource)", entry)
                case nil:
                    return nil
                }
            }.sorted { $0.key < $1.key }
        }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize).page(listing.value, key: \.key, after: paging.token?.after) { $0.entry }
        return .with {
            $0.revision = listing.revision.rawValue
            $0.entries = page.entries
            $0.nextPageToken = paging.next(page.next, listing, entries: listing.value.count)
        }
    }

    // MARK: - Paging

    /// The caller's read scope.
    func readScope(_ context: RPCServerContext) -> ReadScope {
        ReadScope(self.authorizer.principal(of: context))
    }

    /// One page request of a listing: its checked token, and where its listing comes from.
    struct Paging {
        let service: GateService
        let token: PageToken?
        let method: String
        let filter: UInt64
        let readable: String?

        /// The listing a page is cut from, at the revision it was built: the
        /// first page's while it is kept, else built now from the latest state.
        func listing<Listing: Sendable>(_ build: (GateState) throws -> Listing) rethrows -> (revision: Revision, value: Listing) {
            if let token {
                let key = ListingSnapshots.Key(method: self.method, revision: Revision(token.revision), filter: self.filter, readable: self.readable)
                if let kept = self.service.listings.listing(for: key, as: Listing.self) {
                    return (Revision(token.revision), kept)
                }
            }
            let state = self.service.state
            return (state.revision, try build(state))
        }

        /// The token of the page after one that ended at `next` (empty on the last page); keeps the
        /// listing, of `entries` entries, for it.
        func next<Listing: Sendable>(_ next: String?, _ listing: (revision: Revision, value: Listing), entries: Int) -> String {
            guard let next else { return "" }
            let key = ListingSnapshots.Key(method: self.method, revision: listing.revision, filter: self.filter, readable: self.readable)
            self.service.listings.keep(listing.value, entries: entries, for: key)
            return PageToken(method: self.method, revision: listing.revision.rawValue, filter: self.filter, after: next).text
        }
    }

    /// Checks a request's page token against the method and the request's other fields.
    func paging<Filters: SwiftProtobuf.Message>(_ text: String, method: String, filters: Filters, scope: ReadScope) throws -> Paging {
        let filter = Self.digest(filters)
        return Paging(service: self, token: try Self.token(text, method: method, filters: filters), method: method, filter: filter, readable: scope.component)
    }

    /// The request's page token, checked against the method and the request's other fields.
    static func token<Filters: SwiftProtobuf.Message>(_ text: String, method: String, filters: Filters) throws -> PageToken? {
        do {
            return try PageToken.decode(text, method: method, filter: Self.digest(filters))
        } catch {
            throw error.rpcError
        }
    }

    static func digest(_ filters: some SwiftProtobuf.Message) -> UInt64 {
        PageToken.digest((try? filters.serializedBytes() as [UInt8]) ?? [])
    }

    /// Overrides in the order Get lists them: widest scope first, then by scope.
    static func pageKey(_ scope: Scope) -> String {
        let rank: Int
        switch scope {
        case .global: rank = 0
        case .component: rank = 1
        case .instance: rank = 2
        }
        return "\(rank)\u{0}\(scope.key)"
    }

    /// APIs in group, version, resource order.
    static func pageKey(_ ref: APIRef) -> String {
        "\(ref.group)\u{0}\(ref.version)\u{0}\(ref.resource ?? "")"
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
