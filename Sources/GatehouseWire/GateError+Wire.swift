import GatehouseCore
import GatehouseProto
import GatehouseRPC

extension GateError {
    /// The call status a refusal travels as, with its reason and facts in
    /// `ErrorDetails`: the one place domain errors become wire statuses.
    public var rpcError: RPCError {
        let code: RPCStatus.Code
        switch self.code {
        case .invalidArgument: code = .invalidArgument
        case .notFound: code = .notFound
        case .failedPrecondition: code = .failedPrecondition
        case .aborted: code = .aborted
        case .alreadyExists: code = .alreadyExists
        case .permissionDenied: code = .permissionDenied
        case .resourceExhausted: code = .resourceExhausted
        }
        let details = Gatehouse_V1_ErrorDetails.with {
            $0.reason = self.reason.rawValue
            $0.metadata = self.metadata
        }
        let bytes: [UInt8] = (try? details.serializedBytes()) ?? []
        return RPCError(code, self.message, details: bytes)
    }
}
