import CSQLite

/// The writer's side of the SQLite file: configuration, migration, load, and group writes.
///
/// Confined, like its connection, to the writer's queue. Durability comes
/// from `journal_mode=WAL` with `synchronous=FULL`: each COMMIT appends the
/// group's pages and a commit frame to the WAL and fsyncs it before
/// returning, so a commit is durable when ``write(_:)`` returns, and a crash
/// before that leaves a WAL tail without a commit frame, which SQLite ignores
/// on recovery: nothing of the group is applied.
package final class StoreDatabase {
    package let connection: SQLiteConnection

    /// The largest blob or text SQLite accepts here, checked before a batch is accepted.
    package let limits: RecordLimits

    package var path: String { self.connection.path }

    /// Whether the schema has checksums (tests open with only the first migration to build old files).
    private let checksums: Bool

    /// Opens the writer's connection at `path`, configures it, and migrates the schema.
    package init(path: String, configuration: SQLiteStoreConfiguration) throws(StoreError) {
        let connection = try SQLiteConnection(
            path: path,
            busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds
        )
        let journalMode = try connection.pragma("PRAGMA journal_mode = WAL")
        guard journalMode?.lowercased() == "wal" else {
            throw StoreError.sqlite(
                code: SQLITE_CANTOPEN,
                message: "journal_mode is \(journalMode ?? "unknown"), WAL is required (is the path on a file system without shared memory?)",
                operation: "PRAGMA journal_mode = WAL",
                path: path
            )
        }
        // FULL: the WAL is fsynced at every COMMIT. fullfsync matters only on
        // Apple systems, where plain fsync does not reach the platter.
        try connection.execute(
            """
            PRAGMA synchronous = FULL;
            PRAGMA fullfsync = ON;
            PRAGMA checkpoint_fullfsync = ON;
            PRAGMA foreign_keys = ON;
            """
        )
        _ = try connection.pragma("PRAGMA wal_autocheckpoint = \(configuration.walCheckpointPages)")
        if let pages = configuration.maximumPageCount {
            _ = try connection.pragma("PRAGMA max_page_count = \(pages)")
        }
        try StoreSchema.migrate(connection, migrations: configuration.migrations)
        self.connection = connection
        self.checksums = (configuration.migrations.last?.version ?? 0) >= StoreSchema.checksumVersion
        self.limits = RecordLimits(maximumValueLength: connection.maximumLength, path: path)
    }

    /// Reads the revision and every live record, and checks the whole file, in one read transaction.
    ///
    /// Every record and audit entry is read and its checksum compared, and
    /// SQLite's `quick_check` reads every page (see ``IntegrityScan``), so a
    /// damaged file is refused here instead of being served with changes
    /// silently missing.
    ///
    /// - Throws: ``StoreError/damaged(_:path:)`` naming every damaged row it found.
    package func load() throws(StoreError) -> LoadedRecords {
        try self.connection.execute("BEGIN")
        do throws(StoreError) {
            var scan = IntegrityScan(connection: self.connection, checksums: self.checksums)
            try scan.checkPages(thorough: false)
            try scan.readRevision()
            var kinds: [String: [String: StoredValue]] = [:]
            try scan.scanRecords { kind, key, stored in
                kinds[kind, default: [:]][key] = stored
            }
            try scan.scanAudit()
            guard scan.damage.isEmpty else {
                // Ending a read transaction on a damaged file can itself fail; the damage is the news.
                self.connection.rollbackIfNeeded()
                throw StoreError.damaged(scan.damage, path: self.path)
            }
            try self.connection.execute("COMMIT")
            return LoadedRecords(revision: scan.revision, kinds: kinds)
        } catch {
            self.connection.rollbackIfNeeded()
            throw error
        }
    }

    /// Writes `batches` (consecutive revisions, oldest first) in one transaction: one fsync for all.
    ///
    /// On error the transaction is rolled back before this throws; the caller
    /// decides from the error whether the store can go on (see ``GroupCommitWriter``).
    package func write(_ batches: [StagedBatch]) throws(StoreError) {
        guard let last = batches.last else {
            return
        }
        try self.connection.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            // Each row's checksum covers its create revision, which an update
            // keeps, so the row is looked up first; the same lookup keeps
            // meta.records_digest, the sum of every row's checksum, which is
            // how a row deleted whole is noticed at open.
            let existing = try self.connection.statement("SELECT create_revision, checksum FROM records WHERE kind = ?1 AND key = ?2")
            let upsert = try self.connection.statement(
                """
                INSERT INTO records (kind, key, value, create_revision, mod_revision, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, checksum = excluded.checksum
                """
            )
            let delete = try self.connection.statement("DELETE FROM records WHERE kind = ?1 AND key = ?2")
            var digest: Int64 = 0
            try self.connection.statement("SELECT records_digest FROM meta WHERE id = 1").forEachRow { row throws(StoreError) in
                digest = row.integer(0)
            }
            let audit = try self.connection.statement(
                """
                INSERT INTO audit (revision, time_unix_ms, actor, method, reason, before, after, checksum)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """
            )
            let subject = try self.connection.statement(
                "INSERT INTO audit_subjects (revision, position, subject) VALUES (?1, ?2, ?3)"
            )
            for batch in batches {
                let raw = try self.integer(batch.revision)
                let revision = SQLiteValue.integer(raw)
                for record in batch.records {
                    let key: [SQLiteValue] = [.text(record.kind), .text(record.key)]
                    var created = raw
                    try existing.forEachRow(key) { row throws(StoreError) in
                        created = row.integer(0)
                        digest &-= row.integer(1)
                    }
                    if let value = record.value {
                        let checksum = RowChecksum.record(kind: record.kind, key: record.key, value: value, createRevision: created, modRevision: raw)
                        try upsert.execute(key + [.blob(value), .integer(created), revision, .integer(checksum)])
                        digest &+= checksum
                    } else {
                        try delete.execute(key)
                    }
                }
                let entry = batch.audit
                try audit.execute([
                    revision, .integer(entry.timeUnixMilliseconds), .text(entry.actor), .text(entry.method),
                    .text(entry.reason), .blob(entry.before), .blob(entry.after),
                    .integer(RowChecksum.audit(revision: raw, entry: entry)),
                ])
                for (position, name) in entry.subjects.enumerated() {
                    try subject.execute([revision, .integer(Int64(position)), .text(name)])
                }
            }
            try self.connection.statement("UPDATE meta SET revision = ?1, records_digest = ?2 WHERE id = 1")
                .execute([.integer(try self.integer(last.revision)), .integer(digest)])
            try self.connection.execute("COMMIT")
        } catch {
            self.connection.rollbackIfNeeded()
            throw error
        }
    }

    /// Releases the connection; later writes fail with ``StoreError/closed(path:)``.
    package func close() {
        self.connection.close()
    }

    private func integer(_ revision: Revision) throws(StoreError) -> Int64 {
        guard let value = Int64(exactly: revision.rawValue) else {
            throw StoreError.invalidRecord(reason: "revision \(revision) does not fit SQLite's INTEGER", path: self.path)
        }
        return value
    }
}
