/// Durations as people write them: `250ms`, `30s`, `5m`, `1h30m`, `2d`.
///
/// One parser for every place that reads one (duration parameter values,
/// gatectl's `--bake` and `--disconnect-grace`), so they accept the same text.
public enum DurationText {
    /// The milliseconds `text` stands for: units `ms`, `s`, `m`, `h` and `d`,
    /// summed in any order; a bare number counts as milliseconds. Nil when it is
    /// not a duration or overflows 64 bits.
    public static func milliseconds(_ text: String) -> Int64? {
        if let bare = Int64(text) { return bare }
        var total: Int64 = 0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix(while: { $0.isASCII && $0.isLetter })
            rest = rest.dropFirst(unit.count)
            let scale: Int64
            switch unit {
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            case "d": scale = 86_400_000
            default: return nil
            }
            let (product, overflow) = number.multipliedReportingOverflow(by: scale)
            guard !overflow else { return nil }
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow2 else { return nil }
            total = sum
        }
        return total
    }
}
