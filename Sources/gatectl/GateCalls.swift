import GatehouseClient
import SwiftProtobuf

/// The `Features` and `Apis` writes gatectl calls, typed.
///
/// Each is one unary call with the client's default timeout; a refusal
/// arrives as an `RPCError` carrying the server's status code and message.
/// The reads are GatehouseClient's, which follow pages (`allPages`).
extension GatehouseClient {
    func set(_ request: Gatehouse_V1_SetRequest) async throws -> Gatehouse_V1_SetResponse {
        try await self.call("/gatehouse.v1.Features/Set", request)
    }

    func importCatalog(_ request: Gatehouse_V1_ImportCatalogRequest) async throws -> Gatehouse_V1_ImportCatalogResponse {
        try await self.call("/gatehouse.v1.Features/ImportCatalog", request)
    }

    private func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ request: Request
    ) async throws -> Response {
        try await self.connection.unary(path, request, timeout: self.defaultTimeout)
    }
}
