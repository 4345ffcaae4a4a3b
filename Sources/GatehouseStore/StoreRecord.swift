/// One write of a batch: the layer above turns its domain state into these.
///
/// The engine does not interpret `kind`, `key` or `value`: the domain picks
/// kinds such as `feature` or `override` and encodes values as it likes, so
/// the store does not wait for the domain module and an etcd backend can map
/// `kind/key` to an etcd key one to one.
public struct StoreRecord: Hashable, Sendable {
    /// The family of the record, e.g. `feature`; with `key` it names one row.
    public var kind: String
    /// The record's name within its kind.
    public var key: String
    /// The new bytes, or nil to delete the record.
    public var value: [UInt8]?

    public init(kind: String, key: String, value: [UInt8]?) {
        self.kind = kind
        self.key = key
        self.value = value
    }

    /// A write of `value` under `kind`/`key`.
    public static func put(kind: String, key: String, value: [UInt8]) -> StoreRecord {
        StoreRecord(kind: kind, key: key, value: value)
    }

    /// The removal of `kind`/`key`; deleting an absent record is not an error.
    public static func delete(kind: String, key: String) -> StoreRecord {
        StoreRecord(kind: kind, key: key, value: nil)
    }
}

/// A record as it is stored: its bytes and the revisions that created and last changed it.
///
/// As in etcd's `mvccpb.KeyValue`, `modRevision` is what conditional writes
/// ("only if still at revision N") compare against; `createRevision` tells a
/// re-created record from one that was never deleted.
public struct StoredValue: Hashable, Sendable {
    public var value: [UInt8]
    public var createRevision: Revision
    public var modRevision: Revision

    public init(value: [UInt8], createRevision: Revision, modRevision: Revision) {
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
    }
}
