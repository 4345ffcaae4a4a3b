import CSQLite

/// Everything the store itself can fail with.
///
/// Errors thrown by a caller's transform are not wrapped: they reach that
/// caller unchanged, so domain refusals keep their own types. Every case
/// names the database path, because a server may open more than one store
/// and an operator reading a log line must know which file to look at.
public enum StoreError: Error, Sendable, Hashable {
    /// SQLite refused an operation.
    ///
    /// - Parameters:
    ///   - code: SQLite's extended result code (e.g. 13 `SQLITE_FULL`,
    ///     778 `SQLITE_IOERR_WRITE`); ``primaryCode`` strips the extension.
    ///   - message: `sqlite3_errmsg` at the time of the failure.
    ///   - operation: what the store was doing, e.g. `COMMIT` or the SQL text.
    case sqlite(code: Int32, message: String, operation: String, path: String)

    /// The database was written by a newer Gatehouse whose schema this build does not know.
    case schemaTooNew(found: Int, supported: Int, path: String)

    /// A stored row does not have the shape this build expects (e.g. a negative revision).
    case corrupt(reason: String, path: String)

    /// Rows or pages of the database are damaged: checksums that do not match,
    /// audit entries missing, pages SQLite cannot read. The store refuses to
    /// open rather than serve a state that silently lacks acknowledged changes.
    case damaged([StoreDamage], path: String)

    /// A value cannot be stored as given (e.g. a blob over 2 GiB, which SQLite cannot bind).
    case invalidRecord(reason: String, path: String)

    /// Another store, in this process or another, holds the lock on the database file.
    case alreadyOpen(path: String)

    /// The store was closed before the operation could run.
    case closed(path: String)

    /// An earlier I/O failure left the on-disk state uncertain, so the store
    /// refuses every write until it is reopened and reloaded from disk.
    ///
    /// After a failed `fsync` the kernel may already have dropped the dirty
    /// pages (PostgreSQL's "fsyncgate"): retrying and then reporting success
    /// could acknowledge a change that is not on disk. Reopening reads what
    /// the disk really holds.
    case unavailable(cause: String, path: String)

    /// A store kept in a cluster (etcd) could not be reached or did not
    /// answer in time. `path` names the cluster and the prefix, `cause` what
    /// the client saw, endpoint included, and what to check. The change was
    /// not applied and may be retried once the cluster answers again, unless
    /// `unsettled`: then its answer was lost and it may have been applied.
    case unreachable(cause: String, path: String, unsettled: Bool = false)

    /// SQLite's primary result code (the low byte), or nil when the error did not come from SQLite.
    public var primaryCode: Int32? {
        switch self {
        case .sqlite(let code, _, _, _):
            return code & 0xFF
        case .schemaTooNew, .corrupt, .damaged, .invalidRecord, .alreadyOpen, .closed, .unavailable, .unreachable:
            return nil
        }
    }

    /// True when the disk or the configured page quota is full (`SQLITE_FULL`):
    /// the transaction was rolled back and later, smaller writes may succeed.
    public var isDiskFull: Bool {
        self.primaryCode == SQLITE_FULL
    }
}

extension StoreError: CustomStringConvertible {
    /// How many damaged rows a message lists; ``StoreCheck`` lists them all.
    static let damageShown = 20

    public var description: String {
        switch self {
        case .sqlite(let code, let message, let operation, let path):
            let name = String(cString: sqlite3_errstr(code))
            return "SQLite error \(code) (\(name)) during \(operation) on \(path): \(message)"
        case .schemaTooNew(let found, let supported, let path):
            return "database \(path) has schema version \(found), but this build supports at most \(supported); upgrade Gatehouse"
        case .corrupt(let reason, let path):
            return "database \(path) is corrupt: \(reason)"
        case .invalidRecord(let reason, let path):
            return "cannot store record in \(path): \(reason)"
        case .damaged(let damage, let path):
            let shown = damage.prefix(Self.damageShown).map { "\n  \($0)" }.joined()
            let more = damage.count > Self.damageShown ? "\n  … and \(damage.count - Self.damageShown) more" : ""
            return "database \(path) is damaged (\(damage.count) problem\(damage.count == 1 ? "" : "s")):\(shown)\(more)"
        case .alreadyOpen(let path):
            return "database \(path) is already open by another Gatehouse (it holds an exclusive lock on the file); only one may open it at a time"
        case .closed(let path):
            return "store \(path) is closed"
        case .unavailable(let cause, let path):
            return "store \(path) refuses writes after an I/O failure (\(cause)); restart to reload from disk"
        case .unreachable(let cause, let path, _):
            return "store \(path) is unreachable: \(cause)"
        }
    }
}
