import Dispatch
import GatehouseStore
import Synchronization
import Testing

@Suite("Group commit: grouping, pipelining, non-blocking reads, failed groups")
struct GroupCommitTests {
    @Test("64 concurrent submitters share one transaction")
    func concurrentSubmittersShareTransactions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        let gate = WriterGate()
        async let held = store.submit(gate.transform)
        await gate.waitUntilEntered()

        try await withThrowingTaskGroup(of: Revision.self) { group in
            for index in 0..<64 {
                group.addTask { try await store.submit(put("k\(index)", "\(index)")).revision }
            }
            try #require(try await eventually { store.statistics.pendingSubmissions == 64 })
            gate.release()
            let revisions = try await group.reduce(into: []) { $0.append($1) }
            #expect(revisions.sorted() == (2...65).map { Revision(UInt64($0)) })
        }
        _ = try await held
        // The 64 are one group. It joins the held batch's group when the
        // writer has not taken that one yet (a waiting group takes in what is
        // staged meanwhile), so one or two transactions in all.
        let statistics = store.statistics
        #expect(statistics.batchesCommitted == 65)
        #expect((1...2).contains(statistics.transactionsCommitted), "\(statistics)")
        #expect(statistics.largestGroup >= 64, "\(statistics)")
        await store.close()
    }

    @Test("free-running load groups by itself (natural batching, no configured wait)")
    func naturalBatching() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask {
                    for index in 0..<10 {
                        _ = try await store.submit(put("t\(task)-\(index)", "v"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let statistics = store.statistics
        #expect(statistics.batchesCommitted == 640)
        #expect(statistics.transactionsCommitted < statistics.batchesCommitted)
        await store.close()
    }

    @Test("maximumGroupSize caps the batches per transaction; only the last completion of each group ends it")
    func maximumGroupSize() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory, configuration: SQLiteStoreConfiguration(maximumGroupSize: 8))
        let gate = WriterGate()
        async let held = store.submit(gate.transform)
        await gate.waitUntilEntered()
        let outcomes = try await withThrowingTaskGroup(of: (Revision, Bool).self) { group in
            for index in 0..<32 {
                group.addTask {
                    let committed = try await store.submit(put("k\(index)", "v"))
                    return (committed.revision, committed.endsGroup)
                }
            }
            try #require(try await eventually { store.statistics.pendingSubmissions == 32 })
            gate.release()
            return try await group.reduce(into: [(Revision, Bool)]()) { $0.append($1) }
        }
        let first = try await held
        #expect(store.statistics.largestGroup == 8)
        #expect(store.statistics.transactionsCommitted == 5)
        // The held batch is a group of its own, the 32 behind it four groups of 8:
        // the writer tells each group's last caller that nothing of the group follows.
        #expect(first.endsGroup)
        #expect(outcomes.filter(\.1).map(\.0).sorted() == [9, 17, 25, 33].map { Revision(UInt64($0)) })
        await store.close()
    }

    @Test("readers get the snapshot and history while the writer is busy")
    func readersNeverWaitForTheWriter() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        let gate = WriterGate()
        async let held = store.submit(gate.transform)
        await gate.waitUntilEntered()

        // The writer is stuck inside a transform; reads still answer at once.
        let start = ContinuousClock.now
        for _ in 0..<1000 {
            #expect(store.snapshot.revision == 1)
        }
        #expect(store.snapshot.state == KeyValues(["a": "1"]))
        let history = try await store.history(AuditQuery())
        #expect(history.map(\.revision) == [1])
        #expect(ContinuousClock.now - start < .seconds(2))

        gate.release()
        #expect(try await held.revision == 2)
        // Once submit returns, the snapshot already shows the change (read your writes).
        #expect(store.snapshot.revision == 2)
        await store.close()
    }

    @Test("a group whose write fails fails every caller in it and reverts to the committed state")
    func failedGroupRevertsEverything() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A quota of 64 pages (256 KiB) stands in for a full disk.
        let store = try openStore(directory, configuration: SQLiteStoreConfiguration(maximumPageCount: 64))
        _ = try await store.submit(put("a", "1"))
        // The gate holds the stager, then refuses: small and huge are staged
        // together behind it, and whether or not they join its (empty) group,
        // they are the only batches of the group that fails.
        let gate = WriterGate()
        async let held = store.submit(gate.refusingTransform)
        await gate.waitUntilEntered()

        async let small = store.submit(put("b", "2"))
        try #require(try await eventually { store.statistics.pendingSubmissions == 1 })
        async let huge = store.submit(put("c", String(repeating: "x", count: 1 << 20)))
        try #require(try await eventually { store.statistics.pendingSubmissions == 2 })
        gate.release()
        do {
            _ = try await held
            Issue.record("the gate's refusal was committed")
        } catch {
            #expect(error as? Refusal == Refusal(reason: "gate"))
        }

        var errors: [any Error] = []
        do {
            _ = try await small
            Issue.record("a batch of the failed group was acknowledged")
        } catch {
            errors.append(error)
        }
        do {
            _ = try await huge
            Issue.record("a batch of the failed group was acknowledged")
        } catch {
            errors.append(error)
        }
        for error in errors {
            let storeError = try #require(error as? StoreError)
            #expect(storeError.isDiskFull, "\(storeError)")
            #expect("\(storeError)".contains(directory.database))
        }
        #expect(store.snapshot.revision == 1)
        #expect(store.snapshot.state == KeyValues(["a": "1"]))
        #expect(store.statistics.groupsFailed == 1)

        // A full disk is recoverable: the next small write takes the next revision.
        #expect(try await store.submit(put("d", "4")).revision == 2)
        await store.close()

        let reopened = try openStore(directory)
        #expect(reopened.snapshot.revision == 2)
        #expect(reopened.snapshot.state == KeyValues(["a": "1", "d": "4"]))
        #expect(try await reopened.history(AuditQuery()).map(\.revision) == [2, 1])
        await reopened.close()
    }

    @Test("a group staged on a group whose write fails is failed too, and the store goes on")
    func groupStagedOnAFailedGroupFails() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory, configuration: SQLiteStoreConfiguration(busyTimeoutMilliseconds: 1_000))
        _ = try await store.submit(put("a", "1"))

        // Another connection holds the write lock: the writer's BEGIN IMMEDIATE
        // waits its busy timeout on the first group, then fails with SQLITE_BUSY.
        let blocker = try SQLiteConnection(path: directory.database, busyTimeoutMilliseconds: 0)
        try blocker.execute("BEGIN IMMEDIATE")
        let firstStaged = Mutex(false)
        async let first = store.submit { state, next in
            firstStaged.withLock { $0 = true }
            return try put("b", "2")(state, next)
        }
        try #require(try await eventually { firstStaged.withLock { $0 } })

        // Meanwhile the second group is staged on the first one's state.
        let seen = Mutex<KeyValues?>(nil)
        async let second = store.submit { state, next in
            seen.withLock { $0 = state }
            return try put("c", "3")(state, next)
        }
        var errors: [String] = []
        do {
            _ = try await first
            Issue.record("the first batch was acknowledged while the database was locked")
        } catch {
            errors.append("\(error)")
        }
        do {
            _ = try await second
            Issue.record("a batch staged on a failed one was acknowledged")
        } catch {
            errors.append("\(error)")
        }
        try #require(seen.withLock { $0 } == KeyValues(["a": "1", "b": "2"]), "the second group was staged after the first failed")
        #expect(errors.count == 2 && errors[0] == errors[1], "the stale group fails with the first one's error: \(errors)")
        #expect(errors.first?.contains("locked") == true || errors.first?.contains("busy") == true, "\(errors)")
        #expect(store.snapshot.revision == 1)
        #expect(store.snapshot.state == KeyValues(["a": "1"]))
        #expect(store.statistics.groupsFailed == 2)

        // The stager starts again from the committed state: the next write takes revision 2.
        try blocker.execute("ROLLBACK")
        blocker.close()
        #expect(try await store.submit(put("d", "4")).revision == 2)
        #expect(store.snapshot.state == KeyValues(["a": "1", "d": "4"]))
        await store.close()

        let reopened = try openStore(directory)
        #expect(reopened.snapshot.state == KeyValues(["a": "1", "d": "4"]))
        await reopened.close()
    }
}
