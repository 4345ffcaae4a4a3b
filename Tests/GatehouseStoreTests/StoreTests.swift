import GatehouseStore
import Testing

@Suite("SQLiteGateStore: commits, restarts, refusals")
struct StoreTests {
    @Test("a new store is empty at revision 0")
    func newStoreIsEmpty() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        #expect(store.snapshot.revision == .zero)
        #expect(store.snapshot.state == KeyValues())
        await store.close()
    }

    @Test("restart keeps records, their revisions and the audit trail")
    func restartKeepsEverything() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        #expect(try await store.submit(put("a", "1")).revision == 1)
        #expect(try await store.submit(put("b", "2")).revision == 2)
        #expect(try await store.submit(put("a", nil)).revision == 3)
        #expect(try await store.submit(put("c", "3", actor: "ops", subjects: ["c", "component/x"])).revision == 4)
        #expect(try await store.submit(put("b", "22")).revision == 5)
        let before = store.snapshot
        await store.close()

        var loaded: LoadedRecords?
        let reopened = try KVStore(path: directory.database) { records in
            loaded = records
            return KeyValues(loaded: records)
        }
        #expect(reopened.snapshot.revision == 5)
        #expect(reopened.snapshot.state == before.state)
        #expect(reopened.snapshot.state == KeyValues(["b": "22", "c": "3"]))
        let kv = try #require(loaded)["kv"]
        #expect(kv["a"] == nil)
        #expect(kv["b"] == StoredValue(value: Array("22".utf8), createRevision: 2, modRevision: 5))
        #expect(kv["c"] == StoredValue(value: Array("3".utf8), createRevision: 4, modRevision: 4))

        let history = try await reopened.history(AuditQuery())
        #expect(history.map(\.revision) == [5, 4, 3, 2, 1])
        #expect(history[1].entry == AuditEntry(
            timeUnixMilliseconds: 1_700_000_000_000,
            actor: "ops",
            method: "/test/Put",
            reason: "set c",
            before: [],
            after: Array("3".utf8),
            subjects: ["c", "component/x"]
        ))
        #expect(history[0].entry.before == Array("2".utf8))

        // Writing after the restart continues the revision sequence.
        #expect(try await reopened.submit(put("d", "4")).revision == 6)
        await reopened.close()
    }

    @Test("a refused transform fails only its caller and changes nothing")
    func refusedTransformChangesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))

        await #expect(throws: Refusal(reason: "locked")) {
            try await store.submit { (_: KeyValues, _: Revision) -> Transformation<KeyValues, Void> in
                throw Refusal(reason: "locked")
            }
        }
        #expect(store.snapshot.revision == 1)
        #expect(store.snapshot.state == KeyValues(["a": "1"]))
        #expect(store.statistics.submissionsRefused == 1)
        #expect(try await store.history(AuditQuery()).count == 1)

        // The next accepted batch takes the very next revision: a refusal consumes none.
        #expect(try await store.submit(put("b", "2")).revision == 2)
        await store.close()
    }

    @Test("a refusal inside a group leaves the working state of the others intact")
    func refusalInsideGroup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        let gate = WriterGate()
        async let held = store.submit(gate.transform)
        await gate.waitUntilEntered()

        // Queued behind the gate, these three are staged together: good, refused, good.
        async let first = store.submit(put("x", "1"))
        try #require(try await eventually { store.statistics.pendingSubmissions == 1 })
        async let refused: Committed<Void> = store.submit { state, _ in
            #expect(state.values["x"] == "1")  // sees the first's uncommitted change
            throw Refusal(reason: "no")
        }
        try #require(try await eventually { store.statistics.pendingSubmissions == 2 })
        async let second = store.submit { state, next in
            #expect(state.values["x"] == "1")
            return try put("y", "2")(state, next)
        }
        try #require(try await eventually { store.statistics.pendingSubmissions == 3 })
        gate.release()

        #expect(try await held.revision == 1)
        #expect(try await first.revision == 2)
        do {
            _ = try await refused
            Issue.record("the refused submission was committed")
        } catch {
            #expect(error as? Refusal == Refusal(reason: "no"))
        }
        #expect(try await second.revision == 3)
        #expect(store.snapshot.state == KeyValues(["gate": "gate", "x": "1", "y": "2"]))
        // One transaction, or two when the writer took the held batch's group before the three joined it.
        #expect((1...2).contains(store.statistics.transactionsCommitted))
        #expect(store.statistics.batchesCommitted == 3)
        await store.close()
    }

    @Test("revisions go up by exactly one per committed batch under concurrency")
    func revisionsStrictlyIncrease() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        let revisions = try await withThrowingTaskGroup(of: [Revision].self) { group in
            for task in 0..<16 {
                group.addTask {
                    var mine: [Revision] = []
                    for index in 0..<25 {
                        let committed = try await store.submit(put("t\(task)-\(index)", "v"))
                        mine.append(committed.revision)
                    }
                    // Each caller sees its own revisions strictly increasing.
                    #expect(mine == mine.sorted() && Set(mine).count == mine.count)
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(revisions.sorted() == (1...400).map { Revision(UInt64($0)) })
        #expect(store.snapshot.revision == 400)
        #expect(store.snapshot.state.values.count == 400)
        let history = try await store.history(AuditQuery(limit: 1000))
        #expect(history.map(\.revision) == (1...400).reversed().map { Revision(UInt64($0)) })
        await store.close()
    }

    @Test("an unchanged transformation takes no revision and writes nothing")
    func unchangedTakesNoRevision() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        let answer = try await store.submit { state, _ in
            Transformation<KeyValues, String>.unchanged(state.values["a"] ?? "")
        }
        #expect(answer.value == "1")
        #expect(answer.changed == false)
        #expect(answer.revision == 1)
        #expect(store.snapshot.revision == 1)
        #expect(store.statistics.transactionsCommitted == 1)
        let next = try await store.submit(put("b", "2"))
        #expect(next.revision == 2)
        #expect(next.changed)
        await store.close()
    }

    @Test("the transform is told the revision its change will get")
    func transformSeesNextRevision() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        let committed = try await store.submit { state, next in
            Transformation.commit(state, records: [], audit: AuditEntry(timeUnixMilliseconds: 0, actor: "a", method: "m", reason: "r"), value: next)
        }
        #expect(committed.value == 2)
        #expect(committed.revision == 2)
        await store.close()
    }

    @Test("a second open of the same database is refused while the first is open")
    func secondOpenIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        #expect {
            _ = try openStore(directory)
        } throws: { error in
            guard case .alreadyOpen = error as? StoreError else { return false }
            return "\(error)".contains(directory.database)
        }
        await store.close()
        let again = try openStore(directory)
        await again.close()
    }

    @Test("a closed store refuses submissions with StoreError.closed")
    func closedStoreRefuses() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        await store.close()
        await #expect(throws: StoreError.closed(path: directory.database)) {
            try await store.submit(put("b", "2"))
        }
        #expect(store.snapshot.state == KeyValues(["a": "1"]))
    }

    @Test("the state-building closure's error reaches the opener unchanged")
    func initialStateErrorPropagates() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: Refusal(reason: "bad record")) {
            _ = try KVStore(path: directory.database) { _ in throw Refusal(reason: "bad record") }
        }
        // The failed open released the lock.
        let store = try openStore(directory)
        await store.close()
    }

    @Test("empty values and empty strings round-trip, distinct from deletion")
    func emptyValues() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("", ""))
        await store.close()
        let reopened = try openStore(directory)
        #expect(reopened.snapshot.state == KeyValues(["": ""]))
        await reopened.close()
    }

    @Test("the writer's connection checkpoints the WAL at the configured page count")
    func walCheckpointThreshold() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let byDefault = try StoreDatabase(path: directory.database, configuration: SQLiteStoreConfiguration())
        #expect(try byDefault.connection.pragma("PRAGMA wal_autocheckpoint") == "250")
        byDefault.close()
        let tuned = try StoreDatabase(path: directory.database, configuration: SQLiteStoreConfiguration(walCheckpointPages: 4_000))
        #expect(try tuned.connection.pragma("PRAGMA wal_autocheckpoint") == "4000")
        tuned.close()
    }
}
