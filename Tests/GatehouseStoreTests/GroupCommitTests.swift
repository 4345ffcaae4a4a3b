import Dispatch
import GatehouseStore
import Testing

@Suite("Group commit: grouping, non-blocking reads, failed groups")
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
        let statistics = store.statistics
        #expect(statistics.batchesCommitted == 65)
        #expect(statistics.transactionsCommitted == 2)
        #expect(statistics.largestGroup == 64)
        #expect(statistics.transactionsCommitted < statistics.batchesCommitted)
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

    @Test("maximumGroupSize caps the batches per transaction")
    func maximumGroupSize() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory, configuration: SQLiteStoreConfiguration(maximumGroupSize: 8))
        let gate = WriterGate()
        async let held = store.submit(gate.transform)
        await gate.waitUntilEntered()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<32 {
                group.addTask { _ = try await store.submit(put("k\(index)", "v")) }
            }
            try #require(try await eventually { store.statistics.pendingSubmissions == 32 })
            gate.release()
            try await group.waitForAll()
        }
        _ = try await held
        #expect(store.statistics.largestGroup == 8)
        #expect(store.statistics.transactionsCommitted == 5)
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
        let gate = WriterGate()
        async let held = store.submit(gate.transform)
        await gate.waitUntilEntered()

        async let small = store.submit(put("b", "2"))
        try #require(try await eventually { store.statistics.pendingSubmissions == 1 })
        async let huge = store.submit(put("c", String(repeating: "x", count: 1 << 20)))
        try #require(try await eventually { store.statistics.pendingSubmissions == 2 })
        gate.release()
        #expect(try await held.revision == 2)  // its own group, committed before

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
        #expect(store.snapshot.revision == 2)
        #expect(store.snapshot.state == KeyValues(["a": "1", "gate": "gate"]))
        #expect(store.statistics.groupsFailed == 1)

        // A full disk is recoverable: the next small write takes the next revision.
        #expect(try await store.submit(put("d", "4")).revision == 3)
        await store.close()

        let reopened = try openStore(directory)
        #expect(reopened.snapshot.revision == 3)
        #expect(reopened.snapshot.state == KeyValues(["a": "1", "gate": "gate", "d": "4"]))
        #expect(try await reopened.history(AuditQuery()).map(\.revision) == [3, 2, 1])
        await reopened.close()
    }
}

