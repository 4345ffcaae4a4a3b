import Logging
import Synchronization

/// Writes the instances an ``InstanceRegistry`` marked changed to where they are kept
/// (etcd for ``SharedInstances``, the SQLite store for ``InstancePersistence``).
///
/// What both need alike: a failed write leaves its instances marked changed for the
/// next flush, and a lasting failure is logged once as a warning, then at debug level
/// until a write works again, which is logged too.
final class InstanceChangeFlusher: Sendable {
    private let registry: InstanceRegistry
    private let logger: Logger
    /// Where the instances go, for the log ("to etcd", "in the store").
    private let destination: String
    /// What a failure means for operators, for the warning.
    private let consequence: String
    /// Whether the last write failed.
    private let failing = Atomic<Bool>(false)

    init(registry: InstanceRegistry, logger: Logger, destination: String, consequence: String) {
        self.registry = registry
        self.logger = logger
        self.destination = destination
        self.consequence = consequence
    }

    /// Takes the changed instances, converts them with `convert` and hands them to `write`.
    /// - Returns: how many changes were written (0 when none changed or the write failed).
    func flush<Write>(
        convert: (InstanceRegistry.Change) -> Write,
        write: ([Write]) async throws -> Void
    ) async -> Int {
        let changes = self.registry.takeChanges()
        guard !changes.isEmpty else { return 0 }
        let writes = changes.map(convert)
        do {
            try await write(writes)
            if self.failing.exchange(false, ordering: .relaxed) {
                self.logger.info("writing instances \(self.destination) works again", metadata: ["instances": "\(writes.count)"])
            }
            return writes.count
        } catch {
            self.registry.markChanged(changes.map(\.key))
            let first = !self.failing.exchange(true, ordering: .relaxed)
            self.logger.log(
                level: first ? .warning : .debug,
                "writing instances \(self.destination) failed; \(self.consequence)",
                metadata: ["instances": "\(writes.count)", "error": "\(error)"]
            )
            return 0
        }
    }
}
