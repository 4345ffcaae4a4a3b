import GatehouseProto
import GatehouseRPC
import SwiftProtobuf

/// The `Rollouts` service, typed: start, read, and steer staged rollouts.
///
/// Each is one unary call with the client's default timeout (List follows
/// every page); a refusal arrives as an `RPCError` carrying the server's
/// status code and a message that names the fix (PROTOCOL.md 5.1).
extension GatehouseClient {
    /// `Rollouts/Start`: begins a rollout at its first step (or, with `dry_run`, checks it only).
    public func startRollout(_ request: Gatehouse_V1_StartRolloutRequest, timeout: Duration? = nil) async throws -> Gatehouse_V1_StartRolloutResponse {
        try await self.connection.unary("/gatehouse.v1.Rollouts/Start", request, timeout: timeout ?? self.defaultTimeout)
    }

    /// `Rollouts/List`, every page, newest first.
    public func listRollouts(_ request: Gatehouse_V1_ListRolloutsRequest) async throws -> Gatehouse_V1_ListRolloutsResponse {
        try await self.allPages("/gatehouse.v1.Rollouts/List", request)
    }

    /// `Rollouts/Get`: one rollout with its canaries' health; NOT_FOUND (ROLLOUT_NOT_FOUND) for an unknown name.
    public func getRollout(named name: String, timeout: Duration? = nil) async throws -> Gatehouse_V1_GetRolloutResponse {
        try await self.connection.unary(
            "/gatehouse.v1.Rollouts/Get",
            Gatehouse_V1_GetRolloutRequest.with { $0.name = name },
            timeout: timeout ?? self.defaultTimeout
        )
    }

    /// An operator's action on one rollout.
    public enum RolloutAction: String, CaseIterable, Sendable {
        /// Stops the bake clock; nothing widens until resumed.
        case pause
        /// Continues a paused rollout with the bake time it had left.
        case resume
        /// Jumps to the whole selection and completes.
        case promote
        /// Rolls back: every canary returns to its state before the rollout.
        case abort

        /// The method's path, e.g. `/gatehouse.v1.Rollouts/Pause`.
        public var path: String {
            switch self {
            case .pause: "/gatehouse.v1.Rollouts/Pause"
            case .resume: "/gatehouse.v1.Rollouts/Resume"
            case .promote: "/gatehouse.v1.Rollouts/Promote"
            case .abort: "/gatehouse.v1.Rollouts/Abort"
            }
        }
    }

    /// `Rollouts/Pause`, `Resume`, `Promote` or `Abort` on the rollout `name`, recording `reason`.
    public func steerRollout(
        _ action: RolloutAction,
        named name: String,
        reason: String,
        timeout: Duration? = nil
    ) async throws -> Gatehouse_V1_RolloutActionResponse {
        try await self.connection.unary(
            action.path,
            Gatehouse_V1_RolloutActionRequest.with {
                $0.name = name
                $0.reason = reason
            },
            timeout: timeout ?? self.defaultTimeout
        )
    }
}

extension Gatehouse_V1_ListRolloutsRequest: GatehousePagedRequest {}

extension Gatehouse_V1_ListRolloutsResponse: GatehousePagedResponse {
    public var entryCount: Int { self.rollouts.count }
    public mutating func append(_ page: Self) {
        self.rollouts += page.rollouts
        self.revision = page.revision
        self.nextPageToken = page.nextPageToken
    }
}
