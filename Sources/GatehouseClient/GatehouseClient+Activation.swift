import GatehouseCore
import GatehouseProto
import GatehouseRPC

extension GatehouseClient {
    /// `Apis.Activate`: switches `api` on or off for every live replica of
    /// `component` together, in two phases (PROTOCOL.md 3.8).
    ///
    /// The call lasts until every replica answered the Prepare or `timeout`
    /// passed (the server's default, 30 s, when nil); the RPC's own deadline
    /// is that plus `slack`, so the server's answer (which replicas refused or
    /// stayed silent, ABORTED) arrives rather than a client-side timeout.
    /// Cancelling the task cancels the activation: nothing is committed.
    public func activateAPI(
        _ api: Gatehouse_V1_ApiRef,
        component: String,
        enabled: Bool,
        timeout: Duration? = nil,
        reason: String,
        slack: Duration = .seconds(10)
    ) async throws -> Gatehouse_V1_ActivateApiResponse {
        let milliseconds = timeout?.wholeMilliseconds ?? 0
        let request = Gatehouse_V1_ActivateApiRequest.with {
            $0.api = api
            $0.component = component
            $0.enabled = enabled
            $0.timeoutMs = milliseconds
            $0.reason = reason
        }
        return try await self.connection.unary("/gatehouse.v1.Apis/Activate", request, timeout: (timeout ?? .seconds(30)) + slack)
    }
}
