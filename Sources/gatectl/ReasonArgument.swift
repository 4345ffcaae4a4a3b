import ArgumentParser

/// Every write says why: the reason is recorded in the audit trail, so a blank one is a
/// usage error caught before anything is sent.
enum ReasonArgument {
    static func validate(_ reason: String) throws {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--reason must say why; it is recorded in the audit trail")
        }
    }
}
