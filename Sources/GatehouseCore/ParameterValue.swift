/// A typed value of a feature parameter, as set in an override or resolved.
///
/// Its case must match the parameter's `ParameterSpec.Kind` exactly: a
/// `.string` is not accepted for an enum parameter, so a mistyped value is an
/// error rather than a silent reinterpretation (`ParameterSpec.value(parsing:)`
/// turns a person's text into the right case). Encoded as a one-key object,
/// e.g. `{"int": 3}` or `{"duration_ms": 30000}`, like the wire's oneof.
public enum ParameterValue: Hashable, Sendable {
    case bool(Bool)
    case int(Int64)
    case string(String)
    case enumValue(String)
    /// A duration in milliseconds.
    case durationMs(Int64)

    /// The kind of parameter this value fits, for error messages.
    public var typeName: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .string: "string"
        case .enumValue: "enum"
        case .durationMs: "duration"
        }
    }
}

extension ParameterValue: CustomStringConvertible {
    /// `true`, `3`, `"abc"`, `fast`, `30000ms`.
    public var description: String {
        switch self {
        case .bool(let value): String(value)
        case .int(let value): String(value)
        case .string(let value): "\"\(value)\""
        case .enumValue(let value): value
        case .durationMs(let value): "\(value)ms"
        }
    }
}

extension ParameterValue: Codable {
    private enum CodingKeys: String, CodingKey {
        case bool
        case int
        case string
        case enumValue = "enum"
        case durationMs = "duration_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "a parameter value has exactly one of bool, int, string, enum, duration_ms"
            ))
        }
        switch key {
        case .bool: self = .bool(try container.decode(Bool.self, forKey: key))
        case .int: self = .int(try container.decode(Int64.self, forKey: key))
        case .string: self = .string(try container.decode(String.self, forKey: key))
        case .enumValue: self = .enumValue(try container.decode(String.self, forKey: key))
        case .durationMs: self = .durationMs(try container.decode(Int64.self, forKey: key))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .bool(let value): try container.encode(value, forKey: .bool)
        case .int(let value): try container.encode(value, forKey: .int)
        case .string(let value): try container.encode(value, forKey: .string)
        case .enumValue(let value): try container.encode(value, forKey: .enumValue)
        case .durationMs(let value): try container.encode(value, forKey: .durationMs)
        }
    }
}
