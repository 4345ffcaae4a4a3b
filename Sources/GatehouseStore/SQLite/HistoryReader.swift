/// Audit queries on a connection of their own.
///
/// WAL lets this connection read a consistent snapshot while the writer
/// commits, so a history query never waits for a group's fsync, and the
/// writer never waits for a long query. Confined to the reader's queue.
package final class HistoryReader {
    private let connection: SQLiteConnection

    package init(path: String, configuration: SQLiteStoreConfiguration) throws(StoreError) {
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        try connection.execute("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")
        self.connection = connection
    }

    /// Audit records matching `query`, newest first unless it asks otherwise, read in one transaction.
    package func history(_ query: AuditQuery) throws(StoreError) -> [AuditRecord] {
        guard query.limit > 0 else {
            return []
        }
        var conditions: [String] = []
        var bindings: [SQLiteValue] = []
        if let range = query.revisions {
            conditions.append("revision BETWEEN ? AND ?")
            bindings.append(.integer(Int64(clamping: range.lowerBound.rawValue)))
            bindings.append(.integer(Int64(clamping: range.upperBound.rawValue)))
        }
        if let actor = query.actor {
            conditions.append("actor = ?")
            bindings.append(.text(actor))
        }
        for subject in (query.subject.map { [$0] } ?? []) + query.alsoSubjects {
            conditions.append("revision IN (SELECT revision FROM audit_subjects WHERE subject = ?)")
            bindings.append(.text(subject))
        }
        bindings.append(.integer(Int64(query.limit)))
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        // One SQL text per combination of filters: each is prepared once and
        // cached, and each lets SQLite pick the index that suits it.
        let sql = "SELECT revision, time_unix_ms, actor, method, reason, before, after FROM audit"
            + filter + (query.oldestFirst ? " ORDER BY revision ASC LIMIT ?" : " ORDER BY revision DESC LIMIT ?")

        try self.connection.execute("BEGIN")
        do throws(StoreError) {
            var records: [AuditRecord] = []
            try self.connection.statement(sql).forEachRow(bindings) { row throws(StoreError) in
                let raw = row.integer(0)
                guard let revision = UInt64(exactly: raw) else {
                    throw StoreError.corrupt(reason: "audit.revision is negative (\(raw))", path: self.connection.path)
                }
                records.append(
                    AuditRecord(
                        revision: Revision(revision),
                        entry: AuditEntry(
                            timeUnixMilliseconds: row.integer(1),
                            actor: row.text(2),
                            method: row.text(3),
                            reason: row.text(4),
                            before: row.blob(5),
                            after: row.blob(6)
                        )
                    )
                )
            }
            let subjects = try self.connection.statement(
                "SELECT subject FROM audit_subjects WHERE revision = ?1 ORDER BY position"
            )
            for index in records.indices {
                let revision = Int64(records[index].revision.rawValue)
                try subjects.forEachRow([.integer(revision)]) { row throws(StoreError) in
                    records[index].entry.subjects.append(row.text(0))
                }
            }
            try self.connection.execute("COMMIT")
            return records
        } catch {
            self.connection.rollbackIfNeeded()
            throw error
        }
    }

    package func close() {
        self.connection.close()
    }
}
