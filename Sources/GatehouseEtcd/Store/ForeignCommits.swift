import EtcdProto
import Foundation
import GatehouseStore

/// A commit seen in etcd: the etcd revision of its transaction, what it
/// wrote to `<p>rev`, and the audit values it wrote, in gate-revision order.
struct SeenCommit: Sendable, Equatable {
    var etcdRevision: Int64
    var stamp: RevisionStamp
    var audits: [AuditCodec.Decoded]

    /// The gate revisions the commit must carry to follow `revision` with no gap.
    func follows(_ revision: Revision) -> Bool {
        guard self.stamp.revision > revision else { return false }
        let expected = (revision.rawValue + 1)...self.stamp.revision.rawValue
        return self.audits.map(\.record.revision.rawValue) == Array(expected)
    }
}

/// Reads commits out of watch responses, which bring whole etcd revisions in order.
enum ForeignCommits {
    /// The commits in `response`: one per etcd revision that wrote `<p>rev`,
    /// ascending, each with the audit keys written in the same revision.
    ///
    /// Writes of other keys (instances, the leader key, records) are passed
    /// over; an undecodable `<p>rev` or audit value throws, naming the key.
    static func commits(in events: [Mvccpb_Event], keys: EtcdStoreKeys) throws(AuditDecodingError) -> [SeenCommit] {
        var stamps: [Int64: RevisionStamp] = [:]
        var audits: [Int64: [AuditCodec.Decoded]] = [:]
        let revisionKey = keys.revision
        for event in events where event.type == .put {
            let kv = event.kv
            if kv.key == revisionKey {
                guard let stamp = RevisionStamp(kv.value) else {
                    throw AuditDecodingError("\(keys.prefix)rev holds \(kv.value.count) bytes that are not \"<revision> <commit id>\"")
                }
                stamps[kv.modRevision] = stamp
            } else if keys.auditRevision(kv.key) != nil {
                do {
                    audits[kv.modRevision, default: []].append(try AuditCodec.decode(kv.value))
                } catch {
                    throw AuditDecodingError("\(String(decoding: kv.key, as: UTF8.self)): \(error)")
                }
            }
        }
        return stamps.keys.sorted().map { revision in
            SeenCommit(
                etcdRevision: revision,
                stamp: stamps[revision]!,
                audits: (audits[revision] ?? []).sorted { $0.record.revision < $1.record.revision }
            )
        }
    }

    /// The newest etcd revision a watch response proves was seen: its last
    /// event's, or for a progress notification (no events) its header's.
    ///
    /// An event-bearing response's header may be ahead of events still to
    /// come (a watcher catching up), so it proves nothing beyond its events.
    static func seenThrough(_ response: Etcdserverpb_WatchResponse) -> Int64 {
        if let last = response.events.last {
            return response.events.reduce(last.kv.modRevision) { max($0, $1.kv.modRevision) }
        }
        return response.header.revision
    }
}
