/// The declaration of one typed parameter of a feature, with its default.
///
/// Parameters let a feature carry tuning (a batch size, a timeout, a mode)
/// alongside its on/off state, validated before anything is stored. In a
/// catalog file one parameter is a flat mapping:
///
/// ```yaml
/// - name: max_batch
///   type: int          # bool | int | string | enum | duration
///   default: 100
///   min: 1             # int only, optional
///   max: 1000
/// - name: mode
///   type: enum
///   values: [fast, safe]
///   default: safe
/// - name: timeout
///   type: duration     # milliseconds
///   default_ms: 30000
///   min_ms: 1000
/// - name: prefix
///   type: string
///   regex: "[a-z]+"    # must match the whole value
///   default: abc
/// ```
public struct ParameterSpec: Hashable, Sendable {
    /// The type of a parameter, its bounds, and its default.
    public enum Kind: Hashable, Sendable {
        case bool(default: Bool)
        case int(default: Int64, min: Int64?, max: Int64?)
        /// `regex` must match the whole value (a subset of RE2 syntax, matched in linear
        /// time: see ``LinearRegex``); nil accepts any string. Values checked against
        /// a regex hold at most ``ParameterSpec/maximumMatchedStringBytes`` bytes.
        case string(default: String, regex: String?)
        case enumeration(default: String, values: [String])
        case duration(defaultMs: Int64, minMs: Int64?, maxMs: Int64?)

        /// `bool`, `int`, `string`, `enum` or `duration`: the catalog's `type:`.
        public var typeName: String {
            switch self {
            case .bool: "bool"
            case .int: "int"
            case .string: "string"
            case .enumeration: "enum"
            case .duration: "duration"
            }
        }

        /// The default as a value.
        public var defaultValue: ParameterValue {
            switch self {
            case .bool(let value): .bool(value)
            case .int(let value, _, _): .int(value)
            case .string(let value, _): .string(value)
            case .enumeration(let value, _): .enumValue(value)
            case .duration(let value, _, _): .durationMs(value)
            }
        }
    }

    public var name: String
    public var kind: Kind
    public var description: String

    public init(name: String, kind: Kind, description: String = "") {
        self.name = name
        self.kind = kind
        self.description = description
    }

    /// The default as a value.
    public var defaultValue: ParameterValue { self.kind.defaultValue }
}

extension ParameterSpec: Codable {
    private enum CodingKeys: String, CodingKey {
        case name
        case type
        case description
        case defaultValue = "default"
        case min
        case max
        case regex
        case values
        case defaultMs = "default_ms"
        case minMs = "min_ms"
        case maxMs = "max_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .name)
        let description = try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        let type = try container.decode(String.self, forKey: .type)
        let kind: Kind
        switch type.lowercased() {
        case "bool":
            kind = .bool(default: try container.decodeIfPresent(Bool.self, forKey: .defaultValue) ?? false)
        case "int":
            kind = .int(
                default: try container.decode(Int64.self, forKey: .defaultValue),
                min: try container.decodeIfPresent(Int64.self, forKey: .min),
                max: try container.decodeIfPresent(Int64.self, forKey: .max)
            )
        case "string":
            kind = .string(
                default: try container.decodeIfPresent(String.self, forKey: .defaultValue) ?? "",
                regex: try container.decodeIfPresent(String.self, forKey: .regex)
            )
        case "enum":
            kind = .enumeration(
                default: try container.decode(String.self, forKey: .defaultValue),
                values: try container.decode([String].self, forKey: .values)
            )
        case "duration":
            kind = .duration(
                defaultMs: try container.decode(Int64.self, forKey: .defaultMs),
                minMs: try container.decodeIfPresent(Int64.self, forKey: .minMs),
                maxMs: try container.decodeIfPresent(Int64.self, forKey: .maxMs)
            )
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: container,
                debugDescription: "parameter \(name): unknown type \"\(type)\"; expected bool, int, string, enum or duration"
            )
        }
        self.init(name: name, kind: kind, description: description)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.kind.typeName, forKey: .type)
        if !self.description.isEmpty {
            try container.encode(self.description, forKey: .description)
        }
        switch self.kind {
        case .bool(let value):
            try container.encode(value, forKey: .defaultValue)
        case .int(let value, let min, let max):
            try container.encode(value, forKey: .defaultValue)
            try container.encodeIfPresent(min, forKey: .min)
            try container.encodeIfPresent(max, forKey: .max)
        case .string(let value, let regex):
            try container.encode(value, forKey: .defaultValue)
            try container.encodeIfPresent(regex, forKey: .regex)
        case .enumeration(let value, let values):
            try container.encode(value, forKey: .defaultValue)
            try container.encode(values, forKey: .values)
        case .duration(let value, let min, let max):
            try container.encode(value, forKey: .defaultMs)
            try container.encodeIfPresent(min, forKey: .minMs)
            try container.encodeIfPresent(max, forKey: .maxMs)
        }
    }
}
