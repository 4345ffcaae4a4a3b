import ArgumentParser
import GatehouseClient

/// A maturity stage on the command line: `alpha`, `beta`, `ga`, `deprecated`.
enum StageArgument: String, ExpressibleByArgument, CaseIterable {
    case alpha, beta, ga, deprecated

    var wire: Gatehouse_V1_Stage {
        switch self {
        case .alpha: .alpha
        case .beta: .beta
        case .ga: .ga
        case .deprecated: .deprecated
        }
    }
}
