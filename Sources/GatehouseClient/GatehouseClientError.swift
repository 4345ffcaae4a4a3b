import GatehouseRPC

/// Why a client operation failed before or outside a call's status.
public enum GatehouseClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A missing or malformed client config or certificate file.
    case configuration(String)

    public var description: String {
        switch self {
        case .configuration(let message): return message
        }
    }
}
