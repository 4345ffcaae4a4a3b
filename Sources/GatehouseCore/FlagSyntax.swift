/// The pieces of Kubernetes' flag syntax shared by `--feature-gates` and `--runtime-config`.
enum FlagSyntax {
    /// Go's `strconv.ParseBool`, which Kubernetes uses for both flags.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": true
        case "0", "f", "F", "false", "FALSE", "False": false
        default: nil
        }
    }

    /// Strips `--<flag>=` (or `--<flag> `) if present; refuses another flag's name.
    static func body(of text: String, flag: String) throws(GateError) -> Substring {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasPrefix("-") else { return trimmed }
        for prefix in ["--\(flag)=", "-\(flag)=", "--\(flag) ", "-\(flag) "] where trimmed.hasPrefix(prefix) {
            return trimmed.dropFirst(prefix.count)
        }
        throw GateError(
            "expected --\(flag)=<entries>, got \"\(text)\"",
            reason: .malformedFlag,
            metadata: ["flag": flag]
        )
    }

    /// Comma-separated entries, trimmed, empty ones skipped (as Kubernetes does).
    static func entries(_ body: Substring) -> [Substring] {
        body.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
    }

    static func malformed(_ flag: String, _ text: String, _ why: String) -> GateError {
        GateError("--\(flag): \(why) in \"\(text)\"", reason: .malformedFlag, metadata: ["flag": flag, "entry": text])
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace.
    func trimmingWhitespace() -> Substring {
        let scalars = Substring(self)
        guard let start = scalars.firstIndex(where: { !$0.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return scalars[start...end]
    }
}
