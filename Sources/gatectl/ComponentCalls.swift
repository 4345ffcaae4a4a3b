import GatehouseClient
import SwiftProtobuf

/// The `Components` methods gatectl calls, typed (listing instances is GatehouseClient's, which follows pages).
extension GatehouseClient {
    func convergence(_ request: Gatehouse_V1_ConvergenceRequest) async throws -> Gatehouse_V1_ConvergenceResponse {
        try await self.connection.unary("/gatehouse.v1.Components/Convergence", request, timeout: self.defaultTimeout)
    }

    /// A watch-only subscription: the pushes an instance (or the component) gets, without being its liveness.
    func watch(_ start: Gatehouse_V1_SubscribeStart) async throws -> RPCResponseMessages<Gatehouse_V1_SubscribeResponse> {
        try await self.connection.serverStreaming(
            "/gatehouse.v1.Components/Subscribe",
            Gatehouse_V1_SubscribeRequest.with { $0.start = start },
            as: Gatehouse_V1_SubscribeResponse.self
        )
    }
}
