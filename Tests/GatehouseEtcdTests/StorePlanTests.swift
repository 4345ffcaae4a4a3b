import EtcdProto
import Foundation
import GatehouseStore
import Synchronization
import Testing

@testable import GatehouseEtcd

/// Collects what submissions were answered with, in order.
private final class Answers: Sendable {
    let results = Mutex<[String]>([])

    func completion(_ label: String) -> @Sendable (Result<Committed<Void>, any Error>) -> Void {
        { result in
            self.results.withLock {
                switch result {
                case .success(let committed): $0.append("\(label) ok r\(committed.revision.rawValue)")
                case .failure(let error): $0.append("\(label) failed: \(error)")
                }
            }
        }
    }
}

@Suite("etcd store: commit plans, keys and codecs")
struct StorePlanTests {
    let keys = EtcdStoreKeys(prefix: "/gh/")

    private func plan(base: Revision = .zero, mod: Int64 = 0, _ limits: EtcdStoreConfiguration = .init()) -> CommitPlan<StoreKeyValues> {
        CommitPlan(base: StoreSnapshot(revision: base, state: StoreKeyValues()), baseModRevision: mod, keys: self.keys, limits: limits, storeName: "etcd /gh/")
    }

    private func submission(_ transform: @escaping @Sendable (StoreKeyValues, Revision) throws -> Transformation<StoreKeyValues, Void>, _ answers: Answers, _ label: String) -> Submission<StoreKeyValues> {
        Submission.wrapping(transform, completion: answers.completion(label))
    }

    private func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    @Test("an empty store's commit requires <p>rev to be absent; a later one its mod revision")
    func compares() {
        let answers = Answers()
        var first = self.plan()
        _ = first.stage(self.submission(storePut("a", "1"), answers, "a"))
        let compare = first.transaction.compare[0]
        #expect(compare.target == .create && compare.createRevision == 0 && self.text(compare.key) == "/gh/rev")

        var later = self.plan(base: 5, mod: 42)
        _ = later.stage(self.submission(storePut("a", "1"), answers, "a"))
        let laterCompare = later.transaction.compare[0]
        #expect(laterCompare.target == .mod && laterCompare.modRevision == 42)
        #expect(later.transaction.failure.map { self.text($0.requestRange.key) } == ["/gh/rev"])
    }

    @Test("a group writes <p>rev, each key once (last write wins), one audit key per revision")
    func coalesces() throws {
        let answers = Answers()
        var plan = self.plan(base: 7, mod: 3)
        #expect(plan.stage(self.submission(storePut("a", "1"), answers, "first")) == .accepted)
        #expect(plan.stage(self.submission(storePut("b", "2"), answers, "second")) == .accepted)
        #expect(plan.stage(self.submission(storePut("a", nil), answers, "third")) == .accepted)
        let success = plan.transaction.success
        #expect(success.count == 1 + 2 + 3)
        let stamp = try #require(RevisionStamp(success[0].requestPut.value))
        #expect(self.text(success[0].requestPut.key) == "/gh/rev" && stamp.revision == 10 && stamp.commitID == plan.commitID)
        // "a" was put, then deleted: one delete, where "a" first appeared.
        #expect(self.text(success[1].requestDeleteRange.key) == "/gh/records/kv/a")
        #expect(self.text(success[2].requestPut.key) == "/gh/records/kv/b" && self.text(success[2].requestPut.value) == "2")
        let audits = success[3...].map { self.text($0.requestPut.key) }
        #expect(audits == ["/gh/audit/00000000000000000008", "/gh/audit/00000000000000000009", "/gh/audit/00000000000000000010"])
        let decoded = try AuditCodec.decode(success[5].requestPut.value)
        #expect(decoded.record.revision == 10 && decoded.commitID == plan.commitID && decoded.record.entry.subjects == ["a"])
        plan.finish(nil)
        #expect(answers.results.withLock { $0 } == ["first ok r8", "second ok r9", "third ok r10"])
    }

    @Test("each commit trims the audit keys older than the retention window")
    func trims() {
        let answers = Answers()
        var young = self.plan(base: 2, mod: 1, EtcdStoreConfiguration(auditRetention: 3))
        _ = young.stage(self.submission(storePut("a", "1"), answers, "a"))
        #expect(young.transaction.success.allSatisfy { $0.requestDeleteRange.key.isEmpty })

        var old = self.plan(base: 9, mod: 1, EtcdStoreConfiguration(auditRetention: 3))
        _ = old.stage(self.submission(storePut("a", "1"), answers, "a"))
        let trim = old.transaction.success.last!.requestDeleteRange
        // r10 committed, 3 kept: r8, r9, r10; everything below r8 goes.
        #expect(self.text(trim.key) == "/gh/audit/" && self.text(trim.rangeEnd) == "/gh/audit/00000000000000000008")
    }

    @Test("a batch that does not fit beside the others waits for the next group")
    func full() {
        let answers = Answers()
        // rev + trim + 2 records + 1 audit = 5; a second batch needs 2 more.
        var plan = self.plan(base: 0, mod: 0, EtcdStoreConfiguration(maximumTransactionOperations: 6))
        #expect(plan.stage(self.submission(storePutMany("x", count: 2), answers, "first")) == .accepted)
        #expect(plan.stage(self.submission(storePut("y", "1"), answers, "second")) == .full)
        #expect(plan.batches == 1 && plan.accepted.count == 1 && plan.snapshot.revision == 1)
        #expect(answers.results.withLock { $0 }.isEmpty)
    }

    @Test("a batch larger than etcd takes in one transaction is refused, naming the flag to raise")
    func tooLarge() {
        let answers = Answers()
        var byOps = self.plan()
        #expect(byOps.stage(self.submission(storePutMany("x", count: 200), answers, "ops")) == .refused)
        var byBytes = self.plan(base: 0, mod: 0, EtcdStoreConfiguration(maximumRequestBytes: 64 * 1024))
        #expect(byBytes.stage(self.submission(storePutMany("y", count: 2, valueBytes: 40 * 1024), answers, "bytes")) == .refused)
        let results = answers.results.withLock { $0 }
        #expect(results.count == 2)
        #expect(results[0].contains("--max-txn-ops") && results[0].contains("203 etcd operations"))
        #expect(results[1].contains("--max-request-bytes"))
        #expect(byOps.batches == 0 && byBytes.batches == 0)
    }

    @Test("a transform that throws is answered at once and is not staged again")
    func refusal() {
        let answers = Answers()
        var plan = self.plan()
        let refusing: @Sendable (StoreKeyValues, Revision) throws -> Transformation<StoreKeyValues, Void> = { _, _ in
            throw StoreTestRefusal(reason: "no")
        }
        #expect(plan.stage(self.submission(refusing, answers, "refused")) == .refused)
        #expect(plan.stage(self.submission(storePut("a", "1"), answers, "a")) == .accepted)
        #expect(plan.accepted.count == 1)
        #expect(answers.results.withLock { $0 }.first?.hasPrefix("refused failed") == true)
    }

    @Test("audit values round-trip and refuse damage and unknown versions by name")
    func auditCodec() throws {
        let id = UUID()
        let record = AuditRecord(
            revision: 123_456,
            entry: AuditEntry(timeUnixMilliseconds: -5, actor: "alice", method: "/m", reason: "why ✓", before: [1, 2], after: [], subjects: ["feature:a", "component:b"])
        )
        var bytes = AuditCodec.encode(record, commitID: id)
        let decoded = try AuditCodec.decode(bytes)
        #expect(decoded.record == record && decoded.commitID == id)

        bytes[30] ^= 0x01
        #expect(throws: AuditDecodingError.self) { try AuditCodec.decode(bytes) }
        do {
            _ = try AuditCodec.decode(bytes)
        } catch {
            #expect(error.description.contains("checksum"))
        }
        var newer = AuditCodec.encode(record, commitID: id)
        newer[0] = 2
        do {
            _ = try AuditCodec.decode(newer)
            Issue.record("a version 2 value decoded")
        } catch {
            #expect(error.description.contains("version 2"))
        }
    }

    @Test("keys: audit keys sort by revision, record names keep slashes, <p>rev stamps round-trip")
    func keyLayout() throws {
        #expect(self.keys.audit(9).lexicographicallyPrecedes(self.keys.audit(10)))
        #expect(self.keys.auditRevision(self.keys.audit(Revision(UInt64.max))) == Revision(UInt64.max))
        let name = try #require(self.keys.recordName(self.keys.record(kind: "feature_override", key: "a/b/c")))
        #expect(name.kind == "feature_override" && name.key == "a/b/c")
        #expect(self.keys.recordName(Data("/gh/rev".utf8)) == nil)
        let stamp = RevisionStamp(revision: 77, commitID: UUID())
        #expect(RevisionStamp(stamp.encoded) == stamp)
        #expect(RevisionStamp(Data("77".utf8)) == nil)
        // The watch covers audit keys, records and <p>rev, in etcd's byte order.
        let (start, end) = self.keys.watchRange
        for key in [self.keys.audit(1), self.keys.record(kind: "kv", key: "z"), self.keys.revision] {
            #expect(!key.lexicographicallyPrecedes(start) && key.lexicographicallyPrecedes(end))
        }
        #expect(!Data("/gh/servers/a".utf8).lexicographicallyPrecedes(end))
    }

    private func event(_ key: Data, _ value: Data, at revision: Int64, type: Mvccpb_Event.EventType = .put) -> Mvccpb_Event {
        var event = Mvccpb_Event()
        event.type = type
        event.kv.key = key
        event.kv.value = value
        event.kv.modRevision = revision
        return event
    }

    private func audit(_ revision: Revision, _ id: UUID) -> Data {
        AuditCodec.encode(AuditRecord(revision: revision, entry: AuditEntry(timeUnixMilliseconds: 0, actor: "b", method: "/m", reason: "r", subjects: ["k"])), commitID: id)
    }

    @Test("watch events become commits per etcd revision, other keys passed over, gaps detected")
    func foreignCommits() throws {
        let (one, two) = (UUID(), UUID())
        let events = [
            self.event(Data("/gh/instances/c/i".utf8), Data("x".utf8), at: 50),
            self.event(self.keys.revision, RevisionStamp(revision: 4, commitID: one).encoded, at: 51),
            self.event(self.keys.record(kind: "kv", key: "k"), Data("v".utf8), at: 51),
            self.event(self.keys.audit(4), self.audit(4, one), at: 51),
            self.event(self.keys.audit(3), self.audit(3, one), at: 51),
            self.event(self.keys.audit(1), Data(), at: 51, type: .delete),
            self.event(self.keys.revision, RevisionStamp(revision: 5, commitID: two).encoded, at: 53),
            self.event(self.keys.audit(5), self.audit(5, two), at: 53),
        ]
        let commits = try ForeignCommits.commits(in: events, keys: self.keys)
        #expect(commits.map(\.etcdRevision) == [51, 53])
        #expect(commits[0].audits.map(\.record.revision) == [3, 4])
        #expect(commits[0].follows(2) && !commits[0].follows(1) && !commits[0].follows(3))
        #expect(commits[1].follows(4))

        var response = Etcdserverpb_WatchResponse()
        response.header.revision = 90
        response.events = events
        #expect(ForeignCommits.seenThrough(response) == 53)
        response.events = []
        #expect(ForeignCommits.seenThrough(response) == 90)

        let damaged = [self.event(self.keys.audit(6), Data([1, 2, 3]), at: 60)]
        #expect(throws: AuditDecodingError.self) { try ForeignCommits.commits(in: damaged, keys: self.keys) }
    }
}
