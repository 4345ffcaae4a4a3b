/// Milliseconds as people write a bake time: `250ms`, `1.5s`, `30s`, `5m`, `1h30m`, `2d`.
///
/// For the reasons the rollout driver records ("step 2/4 (10%) after 5m
/// bake"): the largest units first, zero units left out; below a minute the
/// milliseconds show as a fraction of a second.
enum BakeDuration {
    static func text(milliseconds: Int64) -> String {
        guard milliseconds > 0 else { return "0s" }
        if milliseconds < 1_000 { return "\(milliseconds)ms" }
        if milliseconds < 60_000 {
            let millis = milliseconds % 1_000
            guard millis != 0 else { return "\(milliseconds / 1_000)s" }
            var fraction = String(millis)
            fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
            while fraction.last == "0" { fraction.removeLast() }
            return "\(milliseconds / 1_000).\(fraction)s"
        }
        var rest = milliseconds / 1_000
        var text = ""
        for (unit, seconds) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= seconds {
            text += "\(rest / seconds)\(unit)"
            rest %= seconds
        }
        return text
    }
}
