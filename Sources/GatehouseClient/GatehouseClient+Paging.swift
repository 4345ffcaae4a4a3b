import GatehouseProto
import GatehouseRPC
import SwiftProtobuf

/// A listing request that can ask for a later page (PROTOCOL.md 6.2).
public protocol GatehousePagedRequest: SwiftProtobuf.Message {
    /// `next_page_token` of the previous page; empty for the first.
    var pageToken: String { get set }
}

/// A listing response that is one page of a longer result.
public protocol GatehousePagedResponse: SwiftProtobuf.Message {
    /// Empty on the last page.
    var nextPageToken: String { get }
    /// Adds a later page's entries to this one's; the other fields take the later page's values.
    mutating func append(_ page: Self)
    /// How many entries this page holds.
    var entryCount: Int { get }
}

extension GatehouseClient {
    /// Calls a paged method until its last page and returns every page merged into one response
    /// (its `next_page_token` empty).
    ///
    /// - Parameters:
    ///   - maximumEntries: stop once this many entries arrived (the result may hold a few more); nil for all.
    /// - Throws: the first page's error, or a later one's; `RPCError` INTERNAL if the server
    ///   hands back a token that makes no progress.
    public func allPages<Request: GatehousePagedRequest, Response: GatehousePagedResponse>(
        _ path: String,
        _ request: Request,
        as: Response.Type = Response.self,
        maximumEntries: Int? = nil,
        timeout: Duration? = nil
    ) async throws -> Response {
        var request = request
        var merged: Response = try await self.connection.unary(path, request, timeout: timeout ?? self.defaultTimeout)
        var token = merged.nextPageToken
        while !token.isEmpty {
            if let maximumEntries, merged.entryCount >= maximumEntries { break }
            request.pageToken = token
            let page: Response = try await self.connection.unary(path, request, timeout: timeout ?? self.defaultTimeout)
            guard page.nextPageToken != token, page.entryCount > 0 || page.nextPageToken.isEmpty else {
                throw RPCError(.internal, "\(path) returned a page that makes no progress (next_page_token repeats); the server is at fault")
            }
            merged.append(page)
            token = page.nextPageToken
        }
        return merged
    }

    /// `Features/List`, every page.
    public func listFeatures(_ request: Gatehouse_V1_ListFeaturesRequest) async throws -> Gatehouse_V1_ListFeaturesResponse {
        try await self.allPages("/gatehouse.v1.Features/List", request)
    }

    /// `Features/Get` with every override, over as many pages as it takes.
    public func getFeature(named name: String) async throws -> Gatehouse_V1_GetFeatureResponse {
        try await self.allPages("/gatehouse.v1.Features/Get", Gatehouse_V1_GetFeatureRequest.with { $0.name = name })
    }

    /// A feature's definition alone: `Features/Get`'s first page with one override at most,
    /// for callers that do not need the (possibly thousands of) overrides.
    public func featureDefinition(named name: String) async throws -> Gatehouse_V1_Feature {
        let response: Gatehouse_V1_GetFeatureResponse = try await self.connection.unary(
            "/gatehouse.v1.Features/Get",
            Gatehouse_V1_GetFeatureRequest.with { $0.name = name; $0.pageSize = 1 },
            timeout: self.defaultTimeout
        )
        return response.feature
    }

    /// `Features/Explain`, every page.
    public func explain(_ request: Gatehouse_V1_ExplainRequest) async throws -> Gatehouse_V1_ExplainResponse {
        try await self.allPages("/gatehouse.v1.Features/Explain", request)
    }

    /// `Features/History`, following pages until `maximumEntries` entries (nil: all of them);
    /// the request's `limit` is the size of each page.
    public func history(_ request: Gatehouse_V1_HistoryRequest, maximumEntries: Int? = nil) async throws -> Gatehouse_V1_HistoryResponse {
        var response = try await self.allPages("/gatehouse.v1.Features/History", request, as: Gatehouse_V1_HistoryResponse.self, maximumEntries: maximumEntries)
        if let maximumEntries, response.entries.count > maximumEntries {
            response.entries.removeLast(response.entries.count - maximumEntries)
            response.more = true
        }
        return response
    }

    /// `Apis/List`, every page.
    public func listAPIs(_ request: Gatehouse_V1_ListApisRequest) async throws -> Gatehouse_V1_ListApisResponse {
        try await self.allPages("/gatehouse.v1.Apis/List", request)
    }

    /// `Apis/Get` with every override.
    public func getAPI(_ ref: Gatehouse_V1_ApiRef) async throws -> Gatehouse_V1_GetApiResponse {
        try await self.allPages("/gatehouse.v1.Apis/Get", Gatehouse_V1_GetApiRequest.with { $0.api = ref })
    }

    /// `Components/List`, every page.
    public func listComponents(_ request: Gatehouse_V1_ListComponentsRequest) async throws -> Gatehouse_V1_ListComponentsResponse {
        try await self.allPages("/gatehouse.v1.Components/List", request)
    }
}

extension Gatehouse_V1_ListFeaturesRequest: GatehousePagedRequest {}
extension Gatehouse_V1_GetFeatureRequest: GatehousePagedRequest {}
extension Gatehouse_V1_ExplainRequest: GatehousePagedRequest {}
extension Gatehouse_V1_HistoryRequest: GatehousePagedRequest {}
extension Gatehouse_V1_ListApisRequest: GatehousePagedRequest {}
extension Gatehouse_V1_GetApiRequest: GatehousePagedRequest {}
extension Gatehouse_V1_ListComponentsRequest: GatehousePagedRequest {}

extension Gatehouse_V1_ListFeaturesResponse: GatehousePagedResponse {
    public var entryCount: Int { self.features.count }
    public mutating func append(_ page: Self) {
        self.features += page.features
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}

extension Gatehouse_V1_GetFeatureResponse: GatehousePagedResponse {
    public var entryCount: Int { self.overrides.count }
    public mutating func append(_ page: Self) {
        self.feature = page.feature
        self.overrides += page.overrides
        self.knownBy = page.knownBy
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}

extension Gatehouse_V1_ExplainResponse: GatehousePagedResponse {
    public var entryCount: Int { self.entries.count }
    public mutating func append(_ page: Self) {
        self.entries += page.entries
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}

extension Gatehouse_V1_HistoryResponse: GatehousePagedResponse {
    public var entryCount: Int { self.entries.count }
    public mutating func append(_ page: Self) {
        self.entries += page.entries
        self.more = page.more
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}

extension Gatehouse_V1_ListApisResponse: GatehousePagedResponse {
    public var entryCount: Int { self.apis.count }
    public mutating func append(_ page: Self) {
        self.apis += page.apis
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}

extension Gatehouse_V1_GetApiResponse: GatehousePagedResponse {
    public var entryCount: Int { self.overrides.count }
    public mutating func append(_ page: Self) {
        self.api = page.api
        self.overrides += page.overrides
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}

extension Gatehouse_V1_ListComponentsResponse: GatehousePagedResponse {
    public var entryCount: Int { self.instances.count }
    public mutating func append(_ page: Self) {
        self.instances += page.instances
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}
