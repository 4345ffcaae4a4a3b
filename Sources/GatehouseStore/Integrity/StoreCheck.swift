import CSQLite

/// `gatehouse check`: verifies a database without opening it as a store.
///
/// It opens the file read-only and takes no lock, so it neither needs the
/// server stopped nor can it disturb one that runs: in WAL mode a reader
/// sees one committed state (the scan runs in one read transaction) while
/// the server goes on writing, and a read-only connection never writes the
/// database, never migrates it and never checkpoints. It runs the thorough
/// `PRAGMA integrity_check` (which also cross-checks every index against its
/// table) where opening a store runs the faster `quick_check`, and lists
/// every damaged row, not just the first ones.
public enum StoreCheck {
    /// What a check found.
    public struct Report: Sendable {
        public var path: String
        /// The schema version of the file; checksums exist from version 2.
        public var schemaVersion: Int
        /// The revision in `meta`.
        public var revision: Revision
        public var records: Int
        public var auditEntries: Int
        /// Everything damaged, in the order found; empty when the file is sound.
        public var damage: [StoreDamage]

        public var isClean: Bool { self.damage.isEmpty }
    }

    /// Checks the database at `path`.
    ///
    /// - Throws: ``StoreError`` when the file cannot be opened or read at all
    ///   (missing, not a database, a schema newer than this build knows).
    public static func run(path: String, busyTimeoutMilliseconds: Int32 = 5_000) throws(StoreError) -> Report {
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, readOnly: true)
        defer { connection.close() }
        try connection.execute("BEGIN")
        defer { connection.rollbackIfNeeded() }
        var version = 0
        do throws(StoreError) {
            try connection.statement("SELECT version FROM schema_version WHERE id = 1").forEachRow { row throws(StoreError) in
                version = Int(row.integer(0))
            }
        } catch {
            guard error.primaryCode == SQLITE_ERROR else {
                throw error
            }
            // No schema_version table: not a Gatehouse database (or an empty file).
            throw StoreError.corrupt(reason: "it has no schema_version table; is it a Gatehouse database?", path: path)
        }
        let supported = StoreSchema.migrations.last?.version ?? 0
        guard version <= supported else {
            throw StoreError.schemaTooNew(found: version, supported: supported, path: path)
        }
        var scan = IntegrityScan(connection: connection, checksums: version >= StoreSchema.checksumVersion)
        try scan.checkPages(thorough: true)
        try scan.readRevision()
        try scan.scanRecords { _, _, _ in }
        try scan.scanAudit()
        return Report(
            path: path, schemaVersion: version, revision: scan.revision, records: scan.recordCount,
            auditEntries: scan.auditCount, damage: scan.damage
        )
    }
}
