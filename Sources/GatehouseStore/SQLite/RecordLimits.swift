/// The largest value SQLite takes here (`SQLITE_LIMIT_LENGTH`), checked when a
/// batch is staged, so one oversized value refuses only its own submission
/// instead of failing its whole group at COMMIT.
///
/// A value, not a method of the connection, because staging runs on a thread
/// of its own while the writer's connection is busy with the previous group.
package struct RecordLimits: Sendable {
    package var maximumValueLength: Int
    /// The database, for the error message.
    package var path: String

    package init(maximumValueLength: Int, path: String) {
        self.maximumValueLength = maximumValueLength
        self.path = path
    }

    /// The error that refuses `records` and `audit`, or nil when SQLite will take them.
    package func check(_ records: [StoreRecord], _ audit: AuditEntry) -> StoreError? {
        for record in records {
            if let value = record.value, value.count > self.maximumValueLength {
                return .invalidRecord(
                    reason: "\(record.kind)/\(record.key) has \(value.count) bytes, above SQLite's limit of \(self.maximumValueLength)",
                    path: self.path
                )
            }
        }
        if max(audit.before.count, audit.after.count) > self.maximumValueLength {
            return .invalidRecord(
                reason: "audit before/after of \(max(audit.before.count, audit.after.count)) bytes exceeds SQLite's limit of \(self.maximumValueLength)",
                path: self.path
            )
        }
        return nil
    }
}
