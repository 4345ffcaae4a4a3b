import GatehouseCore
import GatehouseProto

extension Stage {
    /// The wire form of a stage.
    public var wire: Gatehouse_V1_Stage {
        switch self {
        case .alpha: .alpha
        case .beta: .beta
        case .ga: .ga
        case .deprecated: .deprecated
        }
    }

    /// A stage from the wire; UNSPECIFIED and unknown values are refused.
    public init(wire: Gatehouse_V1_Stage, field: String) throws(GateError) {
        switch wire {
        case .alpha: self = .alpha
        case .beta: self = .beta
        case .ga: self = .ga
        case .deprecated: self = .deprecated
        case .unspecified, .UNRECOGNIZED: throw invalid(field, "a stage is required: ALPHA, BETA, GA or DEPRECATED")
        }
    }
}
