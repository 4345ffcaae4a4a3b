import EtcdProto
import Foundation
import GatehouseEtcd
import GatehouseStore
import Logging
import Synchronization
import Testing

typealias EtcdKVStore = EtcdGateStore<StoreKeyValues>

func openEtcdStore(
    _ kv: any EtcdKV,
    prefix: String = "/gatehouse/",
    configuration: EtcdStoreConfiguration = EtcdStoreConfiguration()
) async throws -> EtcdKVStore {
    try await EtcdKVStore.open(
        kv: kv, prefix: prefix, configuration: configuration, logger: Logger(label: "test.store.etcd"),
        initialState: { StoreKeyValues(loaded: $0) },
        advance: { try $0.replaying($1) }
    )
}

/// The etcd GateStore against a real etcd (LocalEtcd), one or two stores ("servers") on one prefix.
@Suite("etcd store against etcd", .serialized, .localEtcd)
struct StoreEtcdTests {
    @Test("commits get consecutive revisions, are durable, and a new store loads them")
    func commitAndReload() async throws {
        try await withEtcdClient { _, client in
            let store = try await openEtcdStore(client)
            #expect(store.snapshot.revision == .zero)
            var revisions: [Revision] = []
            for index in 1...3 {
                revisions.append(try await store.submit(storePut("k\(index)", "v\(index)")).revision)
            }
            let unchanged = try await store.submit { state, _ in Transformation<StoreKeyValues, Int>.unchanged(state.values.count) }
            #expect(revisions == [1, 2, 3])
            #expect(!unchanged.changed && unchanged.revision == 3 && unchanged.value == 3)
            _ = try await store.submit(storePut("k2", nil))
            await store.close()

            let reopened = try await openEtcdStore(client)
            #expect(reopened.snapshot.revision == 4)
            #expect(reopened.snapshot.state == StoreKeyValues(["k1": "v1", "k3": "v3"]))
            let later = try await reopened.submit(storePut("k4", "v4"))
            #expect(later.revision == 5)
            await reopened.close()
        }
    }

    @Test("submissions queued together commit as one transaction, completed in revision order")
    func groupCommit() async throws {
        try await withEtcdClient { _, client in
            let store = try await openEtcdStore(client)
            let order = StoreLocked<[Revision]>([])
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                            store.submit(storePut("k\(index)", "v")) { result in
                                if case .success(let committed) = result { order.withLock { $0.append(committed.revision) } }
                                done.resume()
                            }
                        }
                    }
                }
            }
            let revisions = order.withLock { $0 }
            #expect(revisions == (1...64).map { Revision(UInt64($0)) })
            #expect(store.statistics.batchesCommitted == 64)
            #expect(store.statistics.transactionsCommitted < 64)
            #expect(store.snapshot.state.values.count == 64)
            await store.close()
        }
    }

    @Test("two stores on one prefix see each other's commits, in order, through the observer")
    func twoServers() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        let clientA = try EtcdClient(configuration: etcd.clientConfiguration())
        let clientB = try EtcdClient(configuration: etcd.clientConfiguration())
        let a = try await openEtcdStore(clientA)
        let b = try await openEtcdStore(clientB)
        let seenByA = StoreCommitLog()
        let seenByB = StoreCommitLog()
        a.observeCommits(seenByA.observer)
        b.observeCommits(seenByB.observer)

        for index in 1...5 {
            _ = try await a.submit(storePut("a\(index)", "\(index)"))
        }
        try await seenByB.wait { $0.count == 5 }
        #expect(seenByB.revisions == [1, 2, 3, 4, 5])
        #expect(b.snapshot.revision == 5 && b.snapshot.state == a.snapshot.state)

        // B's next commit follows A's, and A sees it; neither sees its own.
        let committed = try await b.submit(storePut("b", "x"))
        #expect(committed.revision == 6)
        try await seenByA.wait { $0 == [6] }
        #expect(a.snapshot.state.values["b"] == "x")
        #expect(seenByB.revisions == [1, 2, 3, 4, 5])

        await a.close()
        await b.close()
        await clientA.close()
        await clientB.close()
    }

    @Test("concurrent writers on two servers converge: consecutive revisions, no lost increment")
    func concurrentConverge() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        let clientA = try EtcdClient(configuration: etcd.clientConfiguration())
        let clientB = try EtcdClient(configuration: etcd.clientConfiguration())
        let a = try await openEtcdStore(clientA)
        let b = try await openEtcdStore(clientB)
        let seenByA = StoreCommitLog()
        let seenByB = StoreCommitLog()
        a.observeCommits(seenByA.observer)
        b.observeCommits(seenByB.observer)

        // Each submission increments a shared counter read from the state it is staged on:
        // a restage on a stale state would lose an increment.
        let increment: @Sendable (StoreKeyValues, Revision) throws -> Transformation<StoreKeyValues, Void> = { state, next in
            let value = String(Int(state.values["counter"] ?? "0")! + 1)
            return try storePut("counter", value)(state, next)
        }
        let perServer = 40
        let ownA = StoreLocked<[Revision]>([])
        let ownB = StoreLocked<[Revision]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<(2 * perServer) {
                let (store, own) = index % 2 == 0 ? (a, ownA) : (b, ownB)
                group.addTask {
                    let committed = try await store.submit(increment)
                    own.withLock { $0.append(committed.revision) }
                }
            }
            try await group.waitForAll()
        }
        let total = UInt64(2 * perServer)
        // The observer runs after the snapshot is published: wait for it, not for the snapshot.
        let (doneA, doneB) = (ownA.withLock { $0 }, ownB.withLock { $0 })
        try await seenByA.wait { doneA.count + $0.count >= Int(total) }
        try await seenByB.wait { doneB.count + $0.count >= Int(total) }
        #expect(a.snapshot.revision.rawValue == total && b.snapshot.revision.rawValue == total)
        #expect(a.snapshot.state.values["counter"] == "\(total)")
        #expect(b.snapshot.state == a.snapshot.state)
        // Every revision is published exactly once on each server: by a completion or the observer.
        #expect((ownA.withLock { $0 } + seenByA.revisions).sorted() == (1...total).map { Revision($0) })
        #expect((ownB.withLock { $0 } + seenByB.revisions).sorted() == (1...total).map { Revision($0) })
        #expect(seenByA.revisions == seenByA.revisions.sorted() && seenByB.revisions == seenByB.revisions.sorted())

        await a.close()
        await b.close()
        await clientA.close()
        await clientB.close()
    }

    @Test("a commit that lost the race runs its transform again on the winner's state")
    func conflictRestage() async throws {
        try await withEtcdClient { _, client in
            let slow = StoreFaultKV(client)
            let a = try await openEtcdStore(client)
            // B's watch is held back: its conflict is resolved by reading, after the bounded wait.
            slow.holdWatch()
            let b = try await openEtcdStore(slow, configuration: EtcdStoreConfiguration(conflictWait: .milliseconds(200)))
            let seenByB = StoreCommitLog()
            b.observeCommits(seenByB.observer)

            _ = try await a.submit(storePut("x", "from-a"))
            // B still believes the store empty: its transaction fails the compare and is restaged on r1.
            let sawX = StoreLocked<[String?]>([])
            let committed = try await b.submit { state, next in
                sawX.withLock { $0.append(state.values["x"]) }
                return try storePut("y", "after-\(state.values["x"] ?? "nothing")")(state, next)
            }
            #expect(committed.revision == 2)
            #expect(sawX.withLock { $0 } == [nil, "from-a"])
            #expect(b.statistics.conflicts == 1)
            #expect(b.snapshot.state.values == ["x": "from-a", "y": "after-from-a"])
            #expect(seenByB.revisions == [1])

            // A transform that refuses on the newer state is answered with its error.
            let a2 = try await a.submit(storePut("z", "1"))
            #expect(a2.revision == 3)
            await #expect(throws: StoreTestRefusal.self) {
                try await b.submit { state, next in
                    if state.values["z"] != nil { throw StoreTestRefusal(reason: "z exists") }
                    return try storePut("z", "2")(state, next)
                }
            }

            // The held watch brings r1 and r3 again once released: published once, never twice.
            slow.releaseWatch()
            _ = try await a.submit(storePut("w", "1"))
            try await seenByB.wait { $0.last == 4 }
            #expect(seenByB.revisions == [1, 3, 4])
            await a.close()
            await b.close()
        }
    }

    /// Compacts etcd's history up to its current revision.
    private func compact(_ etcd: LocalEtcd, _ client: EtcdClient) async throws {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("/".utf8)
        let revision = try await client.range(request).header.revision
        let (status, output) = try await etcd.etcdctl(["compact", "\(revision)"])
        #expect(status == 0, "etcdctl compact: \(output)")
    }

    @Test("a watch whose start was compacted catches up from the audit keys, publishing every batch once")
    func compactedWatch() async throws {
        try await withEtcdClient { etcd, client in
            let slow = StoreFaultKV(client)
            let a = try await openEtcdStore(client)
            slow.holdWatch()
            let b = try await openEtcdStore(slow)
            let seenByB = StoreCommitLog()
            b.observeCommits(seenByB.observer)
            for index in 1...3 {
                _ = try await a.submit(storePut("k\(index)", "\(index)"))
            }
            try await self.compact(etcd, client)
            slow.releaseWatch()
            try await seenByB.wait { $0.count == 3 }
            #expect(seenByB.revisions == [1, 2, 3])
            #expect(b.snapshot.state == a.snapshot.state && b.statistics.reloads == 0)
            // The reopened watch goes on from there.
            _ = try await a.submit(storePut("k4", "4"))
            try await seenByB.wait { $0.count == 4 }
            #expect(seenByB.revisions == [1, 2, 3, 4])
            await a.close()
            await b.close()
        }
    }

    @Test("a store further behind than the audit retention reloads the whole state")
    func behindRetention() async throws {
        try await withEtcdClient { etcd, client in
            let slow = StoreFaultKV(client)
            let a = try await openEtcdStore(client, configuration: EtcdStoreConfiguration(auditRetention: 2))
            slow.holdWatch()
            let b = try await openEtcdStore(slow)
            for index in 1...5 {
                _ = try await a.submit(storePut("k\(index)", "\(index)"))
            }
            try await self.compact(etcd, client)
            slow.releaseWatch()
            // r1…r3 are trimmed: B cannot replay them and reloads; its next commit follows r5.
            let committed = try await b.submit(storePut("b", "x"))
            #expect(committed.revision == 6)
            #expect(b.statistics.reloads == 1)
            #expect(b.snapshot.state.values.count == 6)
            await a.close()
            await b.close()
        }
    }

    @Test("a transaction whose answer was lost is completed exactly once, applied or not")
    func ambiguousCommit() async throws {
        try await withEtcdClient { _, client in
            let faulty = StoreFaultKV(client)
            let store = try await openEtcdStore(faulty)
            let calls = StoreLocked(0)

            // Applied, answer lost: found by its commit id, not written twice.
            faulty.fail(nextTransactions: [.loseAnswer])
            let first = try await store.submit { state, next in
                calls.withLock { $0 += 1 }
                return try storePut("a", "1")(state, next)
            }
            #expect(first.revision == 1 && calls.withLock { $0 } == 1)

            // Not applied, outcome unknown: staged again and committed once.
            faulty.fail(nextTransactions: [.dropRequest])
            let second = try await store.submit(storePut("b", "2"))
            #expect(second.revision == 2)
            #expect(store.statistics.ambiguousCommits == 2)
            await store.close()

            let reopened = try await openEtcdStore(client)
            #expect(reopened.snapshot.revision == 2)
            #expect(reopened.snapshot.state == StoreKeyValues(["a": "1", "b": "2"]))
            let history = try await reopened.history(AuditQuery(limit: 10))
            #expect(history.map(\.revision) == [2, 1])
            await reopened.close()
        }
    }

    @Test("a batch larger than one etcd transaction is refused by name and nothing is written")
    func tooLarge() async throws {
        try await withEtcdClient { _, client in
            let store = try await openEtcdStore(client)
            do {
                _ = try await store.submit(storePutMany("bulk", count: 200))
                Issue.record("a 200-record batch was committed")
            } catch let error as StoreError {
                #expect("\(error)".contains("--max-txn-ops"))
            }
            #expect(store.snapshot.revision == .zero)
            // Beside it, a batch that fits commits normally.
            #expect(try await store.submit(storePut("a", "1")).revision == 1)
            await store.close()
            let reopened = try await openEtcdStore(client)
            #expect(reopened.snapshot.state == StoreKeyValues(["a": "1"]))
            await reopened.close()
        }
    }

    @Test("history is newest first, filtered, and bounded by the audit retention")
    func history() async throws {
        try await withEtcdClient { _, client in
            let store = try await openEtcdStore(client, configuration: EtcdStoreConfiguration(auditRetention: 5))
            for index in 1...8 {
                _ = try await store.submit(storePut(index % 2 == 0 ? "even" : "odd", "\(index)", actor: index <= 4 ? "alice" : "bob"))
            }
            #expect(try await store.history(AuditQuery(limit: 100)).map(\.revision) == [8, 7, 6, 5, 4])
            #expect(try await store.history(AuditQuery(limit: 2)).map(\.revision) == [8, 7])
            #expect(try await store.history(AuditQuery(subject: "even", limit: 100)).map(\.revision) == [8, 6, 4])
            #expect(try await store.history(AuditQuery(actor: "alice", limit: 100)).map(\.revision) == [4])
            #expect(try await store.history(AuditQuery(revisions: 5...6, limit: 100)).map(\.revision) == [6, 5])
            var oldest = AuditQuery(limit: 2)
            oldest.oldestFirst = true
            #expect(try await store.history(oldest).map(\.revision) == [4, 5])
            let entry = try #require(try await store.history(AuditQuery(limit: 1)).first)
            #expect(entry.entry.actor == "bob" && entry.entry.after == Array("8".utf8) && entry.entry.subjects == ["even"])
            await store.close()
        }
    }

    @Test("etcd gone: a commit fails UNAVAILABLE-mapped within the timeout, naming etcd; the state is unchanged")
    func etcdGone() async throws {
        try await withEtcdClient(callTimeout: .seconds(2), connectTimeout: .seconds(1)) { etcd, client in
            let store = try await openEtcdStore(client, configuration: EtcdStoreConfiguration(ambiguityTimeout: .seconds(1)))
            _ = try await store.submit(storePut("a", "1"))
            etcd.kill(member: 0)
            let clock = ContinuousClock()
            let start = clock.now
            do {
                _ = try await store.submit(storePut("b", "2"))
                Issue.record("a commit succeeded with etcd killed")
            } catch let error as StoreError {
                guard case .unreachable(let cause, let path, _) = error else {
                    Issue.record("expected .unreachable, got \(error)")
                    return
                }
                #expect(path == "etcd /gatehouse/")
                #expect(cause.contains("etcd") && cause.contains("127.0.0.1"))
            }
            let elapsed = clock.now - start
            #expect(elapsed < .seconds(8), "took \(elapsed)")
            #expect(store.snapshot.revision == 1 && store.snapshot.state == StoreKeyValues(["a": "1"]))
            await store.close()
        }
    }

    @Test("close answers what was submitted, then refuses")
    func close() async throws {
        try await withEtcdClient { _, client in
            let store = try await openEtcdStore(client)
            let answered = StoreLocked<[Revision]>([])
            for index in 0..<5 {
                store.submit(storePut("k\(index)", "v")) { result in
                    if case .success(let committed) = result { answered.withLock { $0.append(committed.revision) } }
                }
            }
            await store.close()
            #expect(answered.withLock { $0 } == [1, 2, 3, 4, 5])
            await #expect(throws: StoreError.closed(path: "etcd /gatehouse/")) {
                try await store.submit(storePut("late", "v"))
            }
            await store.close()
        }
    }
}

/// A value a test's tasks and callbacks share.
final class StoreLocked<Value: Sendable>: Sendable {
    let value: Mutex<Value>

    init(_ value: Value) {
        self.value = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout sending Value) -> sending Result) -> Result {
        self.value.withLock(body)
    }
}
