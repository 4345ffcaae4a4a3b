/// Computes the checksum of every row written before checksums existed (schema version 1 → 2).
///
/// Runs once, inside the migration's transaction: a crash leaves version 1
/// and no checksums, and the next open starts over. It trusts the rows as
/// they are, because nothing older can vouch for them; from here on every
/// change to them is caught.
enum ChecksumBackfill {
    /// Audit entries updated per query, so memory stays bounded on a long log.
    private static let chunk = 256

    static func run(_ connection: SQLiteConnection) throws(StoreError) {
        var records: [(kind: String, key: String, checksum: Int64)] = []
        try connection.statement("SELECT kind, key, value, create_revision, mod_revision FROM records").forEachRow { row throws(StoreError) in
            let kind = row.text(0)
            let key = row.text(1)
            records.append(
                (kind, key, RowChecksum.record(kind: kind, key: key, value: row.blob(2), createRevision: row.integer(3), modRevision: row.integer(4)))
            )
        }
        let updateRecord = try connection.statement("UPDATE records SET checksum = ?3 WHERE kind = ?1 AND key = ?2")
        var digest: Int64 = 0
        for record in records {
            try updateRecord.execute([.text(record.kind), .text(record.key), .integer(record.checksum)])
            digest &+= record.checksum
        }
        try connection.statement("UPDATE meta SET records_digest = ?1 WHERE id = 1").execute([.integer(digest)])

        let updateAudit = try connection.statement("UPDATE audit SET checksum = ?2 WHERE revision = ?1")
        let subjects = try connection.statement("SELECT subject FROM audit_subjects WHERE revision = ?1 ORDER BY position")
        var after: Int64 = 0
        while true {
            var entries: [(revision: Int64, entry: AuditEntry)] = []
            try connection.statement(
                "SELECT revision, time_unix_ms, actor, method, reason, before, after FROM audit WHERE revision > ?1 ORDER BY revision LIMIT \(Self.chunk)"
            ).forEachRow([.integer(after)]) { row throws(StoreError) in
                entries.append(
                    (
                        row.integer(0),
                        AuditEntry(
                            timeUnixMilliseconds: row.integer(1), actor: row.text(2), method: row.text(3), reason: row.text(4),
                            before: row.blob(5), after: row.blob(6)
                        )
                    )
                )
            }
            for index in entries.indices {
                try subjects.forEachRow([.integer(entries[index].revision)]) { row throws(StoreError) in
                    entries[index].entry.subjects.append(row.text(0))
                }
                let checksum = RowChecksum.audit(revision: entries[index].revision, entry: entries[index].entry)
                try updateAudit.execute([.integer(entries[index].revision), .integer(checksum)])
            }
            guard let last = entries.last, entries.count == Self.chunk else {
                return
            }
            after = last.revision
        }
    }
}
