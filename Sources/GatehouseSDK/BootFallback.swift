import Foundation
import Logging

/// What the component boots on when no server answers in time: the
/// last-known-good file when it is usable, otherwise the compiled defaults
/// with the reason, which is logged and returned by `waitForBoot()`.
struct BootFallback: Sendable {
    /// The file's state; nil for compiled defaults.
    var cache: EffectiveCache?
    var source: BootSource

    static func load(path: String?, component: String, hints: EffectiveCache.StageHints, logger: Logger) -> BootFallback {
        guard let path else {
            return BootFallback(cache: nil, source: .compiledDefaults(reason: "no last-known-good file is configured"))
        }
        func fallBack(_ reason: String) -> BootFallback {
            logger.warning("last-known-good file unusable; booting on compiled defaults if no server answers", metadata: [
                "path": "\(path)", "reason": "\(reason)",
            ])
            return BootFallback(cache: nil, source: .compiledDefaults(reason: "last-known-good file \(path): \(reason)"))
        }
        guard FileManager.default.fileExists(atPath: path) else {
            logger.info("no last-known-good file yet", metadata: ["path": "\(path)"])
            return BootFallback(cache: nil, source: .compiledDefaults(reason: "no last-known-good file at \(path) yet"))
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            return fallBack("cannot read it: \(error.localizedDescription)")
        }
        let saved: LastKnownGood
        do {
            saved = try LastKnownGood.decode(data, expectedComponent: component)
        } catch {
            return fallBack(error.description)
        }
        do {
            let cache = try EffectiveCache.from(saved.snapshot, hints: hints)
            return BootFallback(cache: cache, source: .lastKnownGood(revision: cache.revision, savedAt: saved.savedAt))
        } catch {
            return fallBack("the saved state is invalid: \(error)")
        }
    }
}
