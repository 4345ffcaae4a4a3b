import EtcdProto
import Foundation
import GatehouseStore

/// The store's reads: the whole state at one etcd revision, `<p>rev`, and audit keys.
struct EtcdStoreReader: Sendable {
    /// What a load found, all at one etcd revision.
    struct Loaded: Sendable {
        var records: LoadedRecords
        /// The etcd mod revision of `<p>rev` (0 when the store is empty).
        var stampModRevision: Int64
        /// The etcd revision the load read at: the watch starts after it.
        var etcdRevision: Int64
    }

    /// `<p>rev` as read, and the etcd revision of the read.
    struct StampRead: Sendable {
        var stamp: RevisionStamp?
        var modRevision: Int64
        var etcdRevision: Int64
    }

    let kv: any EtcdKV
    let keys: EtcdStoreKeys
    /// Names the store in errors, e.g. `etcd /gatehouse/`.
    let storeName: String
    /// Keys per Range page of a load or a history read.
    var pageSize: Int64 = 1000

    /// A linearizable read of `<p>rev`.
    func readStamp() async throws -> StampRead {
        var request = Etcdserverpb_RangeRequest()
        request.key = self.keys.revision
        let response = try await self.call("reading \(self.keys.prefix)rev") { try await self.kv.range(request) }
        guard let kv = response.kvs.first else {
            return StampRead(stamp: nil, modRevision: 0, etcdRevision: response.header.revision)
        }
        guard let stamp = RevisionStamp(kv.value) else {
            throw StoreError.corrupt(reason: "\(self.keys.prefix)rev is not \"<revision> <commit id>\"", path: self.storeName)
        }
        return StampRead(stamp: stamp, modRevision: kv.modRevision, etcdRevision: response.header.revision)
    }

    /// Every record and `<p>rev` at one etcd revision, paged so a large catalog is not one huge answer.
    ///
    /// Pages are pinned to the revision of the first read; if etcd compacts
    /// it meanwhile, the load starts again at a newer one.
    func load() async throws -> Loaded {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await self.loadOnce()
            } catch let error as EtcdError {
                guard attempt < 3, case .compacted = error.code else {
                    throw StoreError.etcd(error, doing: "loading \(self.keys.prefix)records/", store: self.storeName)
                }
            }
        }
    }

    private func loadOnce() async throws -> Loaded {
        let stampRead = try await self.readStamp()
        var kinds: [String: [String: StoredValue]] = [:]
        let revision = stampRead.stamp?.revision ?? .zero
        var request = Etcdserverpb_RangeRequest()
        request.key = self.keys.recordsPrefix
        request.rangeEnd = Data(KeyRange.prefixEnd(of: Array(self.keys.recordsPrefix)))
        request.revision = stampRead.etcdRevision
        request.limit = self.pageSize
        request.sortOrder = .ascend
        request.sortTarget = .key
        while true {
            // Unmapped: a compacted page restarts the load (see load()).
            let page = try await self.kv.range(request)
            for kv in page.kvs {
                guard let name = self.keys.recordName(kv.key) else {
                    throw StoreError.corrupt(reason: "record key \(String(decoding: kv.key, as: UTF8.self)) has no kind", path: self.storeName)
                }
                // etcd's revisions are not gate revisions; the layer above keeps its own stamps in the values.
                kinds[name.kind, default: [:]][name.key] = StoredValue(value: [UInt8](kv.value), createRevision: revision, modRevision: revision)
            }
            guard page.more, let last = page.kvs.last else { break }
            request.key = last.key + Data([0])
        }
        return Loaded(
            records: LoadedRecords(revision: revision, kinds: kinds),
            stampModRevision: stampRead.modRevision,
            etcdRevision: stampRead.etcdRevision
        )
    }

    /// The audit values of gate revisions `range`, ascending; those etcd no
    /// longer holds (trimmed by retention) are missing from the answer.
    func audits(_ range: ClosedRange<Revision>) async throws -> [AuditCodec.Decoded] {
        var request = Etcdserverpb_RangeRequest()
        request.key = self.keys.audit(range.lowerBound)
        request.rangeEnd = self.keys.audit(range.upperBound) + Data([0])
        request.sortOrder = .ascend
        request.sortTarget = .key
        var decoded: [AuditCodec.Decoded] = []
        while true {
            let page = try await self.call("reading \(self.keys.prefix)audit/") { try await self.kv.range(request) }
            decoded += try page.kvs.map(self.decode)
            guard page.more, let last = page.kvs.last else { return decoded }
            request.key = last.key + Data([0])
        }
    }

    /// The audit value of one gate revision and the etcd revision that wrote it, nil when etcd does not hold it.
    func audit(_ revision: Revision) async throws -> (decoded: AuditCodec.Decoded, modRevision: Int64)? {
        var request = Etcdserverpb_RangeRequest()
        request.key = self.keys.audit(revision)
        let response = try await self.call("reading \(self.keys.prefix)audit/") { try await self.kv.range(request) }
        guard let kv = response.kvs.first else { return nil }
        return (try self.decode(kv), kv.modRevision)
    }

    /// Audit records matching `query`, newest first unless it asks for oldest first.
    ///
    /// etcd cannot filter by subject or actor, so pages are read in order and
    /// filtered here until `limit` records match or the trail ends.
    func history(_ query: AuditQuery) async throws -> [AuditRecord] {
        guard query.limit > 0 else { return [] }
        var request = Etcdserverpb_RangeRequest()
        let bounds = query.revisions ?? Revision(1)...Revision(UInt64.max)
        request.key = self.keys.audit(max(bounds.lowerBound, Revision(1)))
        request.rangeEnd = self.keys.audit(bounds.upperBound) + Data([0])
        request.sortOrder = query.oldestFirst ? .ascend : .descend
        request.sortTarget = .key
        let filtered = query.subject != nil || query.actor != nil || !query.alsoSubjects.isEmpty
        request.limit = filtered ? self.pageSize : Int64(min(query.limit, Int(self.pageSize)))
        let subjects = (query.subject.map { [$0] } ?? []) + query.alsoSubjects
        var found: [AuditRecord] = []
        while true {
            let page = try await self.call("reading \(self.keys.prefix)audit/") { try await self.kv.range(request) }
            for kv in page.kvs {
                let record = try self.decode(kv).record
                if let actor = query.actor, record.entry.actor != actor { continue }
                if !subjects.allSatisfy(record.entry.subjects.contains) { continue }
                found.append(record)
                if found.count == query.limit { return found }
            }
            guard page.more, let last = page.kvs.last else { return found }
            // Pin later pages to the first one's revision, so a page never shows a trail that moved.
            if request.revision == 0 { request.revision = page.header.revision }
            if query.oldestFirst {
                request.key = last.key + Data([0])
            } else {
                request.rangeEnd = last.key
            }
        }
    }

    private func decode(_ kv: Mvccpb_KeyValue) throws -> AuditCodec.Decoded {
        do {
            return try AuditCodec.decode(kv.value)
        } catch {
            throw StoreError.corrupt(reason: "\(String(decoding: kv.key, as: UTF8.self)): \(error)", path: self.storeName)
        }
    }

    /// Runs an etcd call, turning the client's failure into a ``StoreError`` the server answers UNAVAILABLE.
    func call<T>(_ doing: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as EtcdError {
            throw StoreError.etcd(error, doing: doing, store: self.storeName)
        }
    }
}

extension StoreError {
    /// The error a caller of an etcd-backed store sees when etcd failed it:
    /// what etcd said, which endpoint, and what to check.
    ///
    /// `unsettled` is for a write whose answer was lost and that could not be
    /// read back: the caller must learn that it may have been applied.
    static func etcd(_ error: EtcdError, doing: String, store: String, unsettled: Bool = false) -> StoreError {
        if unsettled {
            return .unreachable(
                cause: "\(error) while \(doing); etcd has not answered since, so the change may or may not have been applied: read it back before retrying",
                path: store,
                unsettled: true
            )
        }
        let advice: String
        switch error.code {
        case .unavailable, .deadlineExceeded:
            advice = "check that a majority of the etcd members is up and reachable from this server (--etcd-endpoints)"
        case .compacted:
            advice = "the store reloads from etcd"
        case .rejected(let status) where status == 8:
            advice = "etcd is out of space: compact, defragment and disarm its NOSPACE alarm, or raise --quota-backend-bytes"
        case .rejected:
            advice = "see etcd's log"
        case .closed:
            advice = "the server is shutting down"
        }
        return .unreachable(cause: "\(error) while \(doing); \(advice)", path: store)
    }
}
