import ArgumentParser

/// How long to wait, as `--timeout` takes it: seconds (`10`, `2.5`) or with a
/// unit (`500ms`, `30s`, `2m`).
struct WaitTime: ExpressibleByArgument, Hashable, Sendable {
    /// Milliseconds.
    var milliseconds: Int64

    init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    init?(argument: String) {
        let units: [(suffix: String, milliseconds: Double)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        var text = Substring(argument)
        var scale = 1000.0
        for unit in units where text.hasSuffix(unit.suffix) {
            text = text.dropLast(unit.suffix.count)
            scale = unit.milliseconds
            break
        }
        guard let value = Double(text), value.isFinite, value > 0, value * scale < Double(Int64.max) else { return nil }
        self.milliseconds = Int64((value * scale).rounded())
        guard self.milliseconds > 0 else { return nil }
    }

    static var defaultCompletionKind: CompletionKind { .default }

    var duration: Duration { .milliseconds(self.milliseconds) }
}
