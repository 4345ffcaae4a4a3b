import GatehouseCore

/// How a parameter value is written in a manifest: the text `--param` takes, which the
/// feature's own spec parses back (`ParameterSpec.value(parsing:feature:)`).
enum ManifestText {
    /// `true`, `50`, `fast`, `a string`, `30s` (a duration in the largest unit that divides it exactly).
    static func parameter(_ value: ParameterValue) -> String {
        switch value {
        case .bool(let flag): String(flag)
        case .int(let number): String(number)
        case .string(let text), .enumValue(let text): text
        case .durationMs(let milliseconds): Self.duration(milliseconds)
        }
    }

    static func duration(_ milliseconds: Int64) -> String {
        guard milliseconds != 0 else { return "0ms" }
        for (unit, scale) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where milliseconds % scale == 0 {
            return "\(milliseconds / scale)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
