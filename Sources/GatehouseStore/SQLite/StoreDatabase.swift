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
        self.limits = RecordLimits(maximumValueLength: connection.maximumLength, path: path)
    }

    /// Reads the revision and every live record, in one read transaction.
    package func load() throws(StoreError) -> LoadedRecords {
        try self.connection.execute("BEGIN")
        do throws(StoreError) {
            var revision = Revision.zero
            try self.connection.statement("SELECT revision FROM meta WHERE id = 1").forEachRow { row throws(StoreError) in
                revision = try self.revision(row.integer(0), column: "meta.revision")
            }
            var kinds: [String: [String: StoredValue]] = [:]
            try self.connection.statement(
                "SELECT kind, key, value, create_revision, mod_revision FROM records"
            ).forEachRow { row throws(StoreError) in
                let stored = StoredValue(
                    value: row.blob(2),
                    createRevision: try self.revision(row.integer(3), column: "records.create_revision"),
                    modRevision: try self.revision(row.integer(4), column: "records.mod_revision")
                )
                guard stored.modRevision <= revision else {
                    throw StoreError.corrupt(
                        reason: "record \(row.text(0))/\(row.text(1)) has mod revision \(stored.modRevision) above the store's \(revision)",
                        path: self.path
                    )
                }
                kinds[row.text(0), default: [:]][row.text(1)] = stored
            }
            try self.connection.execute("COMMIT")
            return LoadedRecords(revision: revision, kinds: kinds)
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
            let upsert = try self.connection.statement(
                """
                INSERT INTO records (kind, key, value, create_revision, mod_revision) VALUES (?1, ?2, ?3, ?4, ?4)
                ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision
                """
            )
            let delete = try self.connection.statement("DELETE FROM records WHERE kind = ?1 AND key = ?2")
            let audit = try self.connection.statement(
                """
                INSERT INTO audit (revision, time_unix_ms, actor, method, reason, before, after)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                """
            )
            let subject = try self.connection.statement(
                "INSERT INTO audit_subjects (revision, position, subject) VALUES (?1, ?2, ?3)"
            )
            for batch in batches {
                let revision = SQLiteValue.integer(try self.integer(batch.revision))
                for record in batch.records {
                    if let value = record.value {
                        try upsert.execute([.text(record.kind), .text(record.key), .blob(value), revision])
                    } else {
                        try delete.execute([.text(record.kind), .text(record.key)])
                    }
                }
                let entry = batch.audit
                try audit.execute([
                    revision, .integer(entry.timeUnixMilliseconds), .text(entry.actor), .text(entry.method),
                    .text(entry.reason), .blob(entry.before), .blob(entry.after),
                ])
                for (position, name) in entry.subjects.enumerated() {
                    try subject.execute([revision, .integer(Int64(position)), .text(name)])
                }
            }
            try self.connection.statement("UPDATE meta SET revision = ?1 WHERE id = 1")
                .execute([.integer(try self.integer(last.revision))])
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

    private func revision(_ value: Int64, column: String) throws(StoreError) -> Revision {
        guard let raw = UInt64(exactly: value) else {
            throw StoreError.corrupt(reason: "\(column) is negative (\(value))", path: self.path)
        }
        return Revision(raw)
    }
}
