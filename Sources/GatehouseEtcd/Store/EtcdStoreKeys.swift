import Foundation
import GatehouseStore

/// Where the store keeps what under its prefix (see DESIGN: `<p>rev`,
/// `<p>records/<kind>/<key>`, `<p>audit/<20-digit revision>`).
///
/// Audit keys pad the revision to 20 digits (`UInt64.max` has 20) so that
/// etcd's byte order is revision order: ranges and deletes by revision are key ranges.
public struct EtcdStoreKeys: Sendable, Hashable {
    /// The prefix every key starts with, e.g. `/gatehouse/`.
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    /// `<p>rev`: the gate revision and the commit id of the group that wrote it.
    public var revision: Data { Data((self.prefix + "rev").utf8) }

    /// `<p>records/`, the start of every record key.
    public var recordsPrefix: Data { Data((self.prefix + "records/").utf8) }

    /// `<p>audit/`, the start of every audit key.
    public var auditPrefix: Data { Data((self.prefix + "audit/").utf8) }

    /// `<p>records/<kind>/<key>`.
    public func record(kind: String, key: String) -> Data {
        Data((self.prefix + "records/" + kind + "/" + key).utf8)
    }

    /// The kind and key of a record key, nil when `key` is not one.
    public func recordName(_ key: Data) -> (kind: String, key: String)? {
        let prefix = self.recordsPrefix
        guard key.starts(with: prefix), let rest = String(data: key.dropFirst(prefix.count), encoding: .utf8),
            let slash = rest.firstIndex(of: "/")
        else { return nil }
        return (String(rest[..<slash]), String(rest[rest.index(after: slash)...]))
    }

    /// `<p>audit/<revision as 20 decimal digits>`.
    public func audit(_ revision: Revision) -> Data {
        let digits = String(revision.rawValue)
        return self.auditPrefix + Data((String(repeating: "0", count: 20 - digits.count) + digits).utf8)
    }

    /// The gate revision of an audit key, nil when `key` is not one.
    public func auditRevision(_ key: Data) -> Revision? {
        let prefix = self.auditPrefix
        guard key.starts(with: prefix), key.count == prefix.count + 20,
            let text = String(data: key.dropFirst(prefix.count), encoding: .utf8), let value = UInt64(text)
        else { return nil }
        return Revision(value)
    }

    /// The range a watch of the store covers: from the audit keys to the
    /// revision key, records included (`audit/` < `records/` < `rev` in byte order).
    public var watchRange: (key: Data, end: Data) {
        (self.auditPrefix, self.revision + Data([0]))
    }
}

/// The value of `<p>rev`: `"<gate revision> <commit id>"` in ASCII.
///
/// The commit id names the group that wrote it, so a commit whose answer was
/// lost can tell, by reading the key, whether it was applied.
public struct RevisionStamp: Sendable, Hashable {
    public var revision: Revision
    public var commitID: UUID

    public init(revision: Revision, commitID: UUID) {
        self.revision = revision
        self.commitID = commitID
    }

    public var encoded: Data {
        Data("\(self.revision.rawValue) \(self.commitID.uuidString)".utf8)
    }

    /// Parses a stored value; nil when it is not one.
    public init?(_ value: Data) {
        guard let text = String(data: value, encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, let revision = UInt64(parts[0]), let id = UUID(uuidString: String(parts[1])) else {
            return nil
        }
        self.revision = Revision(revision)
        self.commitID = id
    }
}
