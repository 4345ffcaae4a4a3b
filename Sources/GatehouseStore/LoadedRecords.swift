/// Everything the database holds at open, from which the layer above rebuilds its state.
///
/// Handed once to the state-building closure of ``SQLiteGateStore/init(path:configuration:logger:initialState:)``;
/// after that the in-memory state is the source of truth for reads and the
/// database only ever receives changes.
public struct LoadedRecords: Sendable {
    /// The revision of the last committed batch (``Revision/zero`` for a new store).
    public var revision: Revision
    /// Every live record, by kind, then by key.
    public var kinds: [String: [String: StoredValue]]

    public init(revision: Revision, kinds: [String: [String: StoredValue]]) {
        self.revision = revision
        self.kinds = kinds
    }

    /// The records of one kind, empty when there are none.
    public subscript(kind: String) -> [String: StoredValue] {
        self.kinds[kind] ?? [:]
    }

    /// The number of live records over all kinds.
    public var count: Int {
        self.kinds.values.reduce(0) { $0 + $1.count }
    }
}
