import GatehouseClient
import SwiftProtobuf

/// The `Features` and `Apis` methods gatectl calls, typed.
///
/// Each is one unary call with the client's default timeout; a refusal
/// arrives as an `RPCError` carrying the server's status code and message.
extension GatehouseClient {
    func listFeatures(_ request: Gatehouse_V1_ListFeaturesRequest) async throws -> Gatehouse_V1_ListFeaturesResponse {
        try await self.call("/gatehouse.v1.Features/List", request)
    }

    func getFeature(named name: String) async throws -> Gatehouse_V1_GetFeatureResponse {
        try await self.call("/gatehouse.v1.Features/Get", Gatehouse_V1_GetFeatureRequest.with { $0.name = name })
    }

    func set(_ request: Gatehouse_V1_SetRequest) async throws -> Gatehouse_V1_SetResponse {
        try await self.call("/gatehouse.v1.Features/Set", request)
    }

    func explain(_ request: Gatehouse_V1_ExplainRequest) async throws -> Gatehouse_V1_ExplainResponse {
        try await self.call("/gatehouse.v1.Features/Explain", request)
    }

    func history(_ request: Gatehouse_V1_HistoryRequest) async throws -> Gatehouse_V1_HistoryResponse {
        try await self.call("/gatehouse.v1.Features/History", request)
    }

    func importCatalog(_ request: Gatehouse_V1_ImportCatalogRequest) async throws -> Gatehouse_V1_ImportCatalogResponse {
        try await self.call("/gatehouse.v1.Features/ImportCatalog", request)
    }

    func listAPIs(_ request: Gatehouse_V1_ListApisRequest) async throws -> Gatehouse_V1_ListApisResponse {
        try await self.call("/gatehouse.v1.Apis/List", request)
    }

    func getAPI(_ ref: Gatehouse_V1_ApiRef) async throws -> Gatehouse_V1_GetApiResponse {
        try await self.call("/gatehouse.v1.Apis/Get", Gatehouse_V1_GetApiRequest.with { $0.api = ref })
    }

    private func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ request: Request
    ) async throws -> Response {
        try await self.connection.unary(path, request, timeout: self.defaultTimeout)
    }
}
