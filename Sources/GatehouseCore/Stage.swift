/// The maturity of a feature or an API, as in Kubernetes.
///
/// For APIs the stage decides the default (see `APIDefinition.effectiveDefault`);
/// for features the default is declared explicitly, as Kubernetes does.
/// Encoded in lower case (`alpha`, `beta`, `ga`, `deprecated`); decoding
/// accepts any case so a hand-written catalog may say `GA` or `Beta`.
public enum Stage: String, Hashable, Sendable, CaseIterable, Codable, Comparable {
    case alpha
    case beta
    case ga
    case deprecated

    /// Parses a stage name in any case; nil when it is not one of the four.
    public init?(parsing text: String) {
        self.init(rawValue: text.lowercased())
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let stage = Stage(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "unknown stage \"\(text)\": expected one of alpha, beta, ga, deprecated"
            )
        }
        self = stage
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }

    /// Order of maturity, for sorting lists; deprecated comes last.
    private var rank: Int {
        switch self {
        case .alpha: 0
        case .beta: 1
        case .ga: 2
        case .deprecated: 3
        }
    }

    public static func < (lhs: Stage, rhs: Stage) -> Bool {
        lhs.rank < rhs.rank
    }
}

extension Stage: CustomStringConvertible {
    /// The name people read: `alpha`, `beta`, `GA`, `deprecated`.
    public var description: String {
        switch self {
        case .alpha: "alpha"
        case .beta: "beta"
        case .ga: "GA"
        case .deprecated: "deprecated"
        }
    }
}
