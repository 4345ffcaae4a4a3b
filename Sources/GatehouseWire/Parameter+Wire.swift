import GatehouseCore
import GatehouseProto

extension ParameterValue {
    public var wire: Gatehouse_V1_ParameterValue {
        .with { value in
            switch self {
            case .bool(let bool): value.boolValue = bool
            case .int(let int): value.intValue = int
            case .string(let string): value.stringValue = string
            case .enumValue(let string): value.enumValue = string
            case .durationMs(let ms): value.durationMs = ms
            }
        }
    }

    public init(wire: Gatehouse_V1_ParameterValue, field: String) throws(GateError) {
        switch wire.value {
        case .boolValue(let bool): self = .bool(bool)
        case .intValue(let int): self = .int(int)
        case .stringValue(let string): self = .string(string)
        case .enumValue(let string): self = .enumValue(string)
        case .durationMs(let ms): self = .durationMs(ms)
        case nil: throw invalid(field, "a parameter value is required")
        }
    }

    /// Parameter values keyed by name, from the wire.
    static func map(_ wire: [String: Gatehouse_V1_ParameterValue], field: String) throws(GateError) -> [String: ParameterValue] {
        var values: [String: ParameterValue] = [:]
        for (name, value) in wire {
            values[name] = try ParameterValue(wire: value, field: "\(field)[\(name)]")
        }
        return values
    }
}

extension ParameterSpec {
    public var wire: Gatehouse_V1_ParameterSpec {
        .with { spec in
            spec.name = self.name
            spec.description_p = self.description
            switch self.kind {
            case .bool(let value):
                spec.boolParam = .with { $0.defaultValue = value }
            case .int(let value, let min, let max):
                spec.intParam = .with { param in
                    param.defaultValue = value
                    if let min { param.min = min }
                    if let max { param.max = max }
                }
            case .string(let value, let regex):
                spec.stringParam = .with { $0.defaultValue = value; $0.regex = regex ?? "" }
            case .enumeration(let value, let values):
                spec.enumParam = .with { $0.defaultValue = value; $0.values = values }
            case .duration(let value, let min, let max):
                spec.durationParam = .with { param in
                    param.defaultMs = value
                    if let min { param.minMs = min }
                    if let max { param.maxMs = max }
                }
            }
        }
    }

    public init(wire: Gatehouse_V1_ParameterSpec, field: String) throws(GateError) {
        let kind: Kind
        switch wire.kind {
        case .boolParam(let param):
            kind = .bool(default: param.defaultValue)
        case .intParam(let param):
            kind = .int(
                default: param.defaultValue,
                min: param.minPresent.map { switch $0 { case .min(let value): value } },
                max: param.maxPresent.map { switch $0 { case .max(let value): value } }
            )
        case .stringParam(let param):
            kind = .string(default: param.defaultValue, regex: param.regex.isEmpty ? nil : param.regex)
        case .enumParam(let param):
            kind = .enumeration(default: param.defaultValue, values: param.values)
        case .durationParam(let param):
            kind = .duration(
                defaultMs: param.defaultMs,
                minMs: param.minMsPresent.map { switch $0 { case .minMs(let value): value } },
                maxMs: param.maxMsPresent.map { switch $0 { case .maxMs(let value): value } }
            )
        case nil:
            throw invalid(field, "parameter \(wire.name) needs a type: bool, int, string, enum or duration")
        }
        self.init(name: wire.name, kind: kind, description: wire.description_p)
    }
}
