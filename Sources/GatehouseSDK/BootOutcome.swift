import Foundation

/// How the component started: on live server state, or stale on a fallback.
public enum BootOutcome: Hashable, Sendable {
    /// A server's state at this revision was applied before the boot deadline.
    case live(revision: UInt64)
    /// No server state within the boot deadline; the component runs on `source` and catches up later.
    case stale(source: BootSource)
}

/// The state a component boots from when no server answers in time.
public enum BootSource: Hashable, Sendable {
    /// The last-known-good file, as applied at `revision` and saved at `savedAt`.
    case lastKnownGood(revision: UInt64, savedAt: Date)
    /// The compiled-in defaults, and why the file was not used.
    case compiledDefaults(reason: String)
}
