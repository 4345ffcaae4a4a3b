/// The `instances` table, on a connection of its own: what the server
/// remembers of each component instance across a restart.
///
/// Kept apart from the gate state on purpose: writing an instance bumps no
/// revision, adds no audit entry, and never waits in (or holds up) the group
/// commit beyond SQLite's one-writer lock for a short transaction. It is
/// written with `synchronous = NORMAL`: a power cut may lose the last few
/// seconds of instance records, which the instances restore themselves by
/// reconnecting; never gate state, which keeps its own connection's FULL.
/// Confined to the store's instance queue.
package final class InstanceTable {
    private let connection: SQLiteConnection?

    /// - Parameter available: false for a database migrated only to a version
    ///   before the table (tests building old files): it then loads and keeps nothing.
    package init(path: String, configuration: SQLiteStoreConfiguration) throws(StoreError) {
        guard (configuration.migrations.last?.version ?? 0) >= StoreSchema.instancesVersion else {
            self.connection = nil
            return
        }
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        try connection.execute("PRAGMA synchronous = NORMAL;")
        self.connection = connection
    }

    /// Every kept instance, in (component, instance id) order.
    package func load() throws(StoreError) -> [StoredInstance] {
        guard let connection else { return [] }
        var rows: [StoredInstance] = []
        try connection.statement("SELECT component, instance_id, value, last_seen_unix_ms FROM instances ORDER BY component, instance_id")
            .forEachRow { row throws(StoreError) in
                rows.append(StoredInstance(component: row.text(0), instanceID: row.text(1), value: row.blob(2), lastSeenUnixMilliseconds: row.integer(3)))
            }
        return rows
    }

    /// Changes written per transaction: SQLite has one writer, and the gate state's
    /// group commit waits while this connection holds it, so it holds it briefly.
    package static let changesPerTransaction = 256

    /// Applies `changes`, in transactions of at most ``changesPerTransaction``.
    package func write(_ changes: [StoredInstance.Change]) throws(StoreError) {
        var start = changes.startIndex
        while start < changes.endIndex {
            let end = min(start + Self.changesPerTransaction, changes.endIndex)
            try self.writeOne(changes[start..<end])
            start = end
        }
    }

    private func writeOne(_ changes: ArraySlice<StoredInstance.Change>) throws(StoreError) {
        guard let connection, !changes.isEmpty else { return }
        try connection.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            let put = try connection.statement(
                "INSERT OR REPLACE INTO instances (component, instance_id, value, last_seen_unix_ms) VALUES (?, ?, ?, ?)"
            )
            let delete = try connection.statement("DELETE FROM instances WHERE component = ? AND instance_id = ?")
            for change in changes {
                switch change {
                case .put(let instance):
                    try put.execute([.text(instance.component), .text(instance.instanceID), .blob(instance.value), .integer(instance.lastSeenUnixMilliseconds)])
                case .delete(let component, let instanceID):
                    try delete.execute([.text(component), .text(instanceID)])
                }
            }
            try connection.execute("COMMIT")
        } catch {
            _ = connection.rollbackIfNeeded()
            throw error
        }
    }

    package func close() {
        self.connection?.close()
    }
}
