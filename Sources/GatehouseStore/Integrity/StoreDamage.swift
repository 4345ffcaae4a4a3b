/// One damaged place in a database: which table, which row, and what is wrong.
///
/// Found by the checks at open (``SQLiteGateStore`` refuses to start) and by
/// ``StoreCheck`` (offline). Rows are named by what an operator can look up:
/// a record's `kind/key` and revision, an audit entry's revision.
public struct StoreDamage: Sendable, Hashable, CustomStringConvertible {
    /// What kind of damage it is.
    public enum Problem: Sendable, Hashable {
        /// The row reads back, but its stored checksum does not match its contents.
        case checksumMismatch
        /// The row is not where it must be (an audit revision with no entry).
        case missing
        /// SQLite cannot read the row (or the part of the table holding it).
        case unreadable(String)
        /// The row reads back but breaks an invariant (e.g. a revision above the store's).
        case invalid(String)
        /// SQLite's page-level check (`PRAGMA quick_check`/`integrity_check`) reported this.
        case page(String)
    }

    /// `records`, `audit`, `meta`, or `database` for damage not tied to one table.
    public var table: String
    /// The row: `kind/key (revision N)`, `revision N`, `revisions N…M`, or empty.
    public var row: String
    public var problem: Problem

    public init(table: String, row: String, problem: Problem) {
        self.table = table
        self.row = row
        self.problem = problem
    }

    public var description: String {
        let place = self.row.isEmpty ? self.table : "\(self.table) \(self.row)"
        switch self.problem {
        case .checksumMismatch:
            return "\(place): contents do not match the stored checksum (changed after it was written)"
        case .missing:
            return "\(place): missing"
        case .unreadable(let reason):
            return "\(place): unreadable (\(reason))"
        case .invalid(let reason):
            return "\(place): \(reason)"
        case .page(let report):
            return "\(place): \(report)"
        }
    }
}
