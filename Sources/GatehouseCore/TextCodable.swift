/// A value that is stored and exchanged as its text form (`apps/v1`,
/// `1.31.2`, `api/alpha`, `component/kubelet`): Codable through
/// `init(parsing:)` and `text`, so files and JSON read like flags do.
public protocol TextCodable: Codable {
    init(parsing text: String) throws(GateError)
    /// The canonical text form, which `init(parsing:)` reads back.
    var text: String { get }
}

extension TextCodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.text)
    }
}
