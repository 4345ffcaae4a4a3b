import GatehouseStore
import Testing

@Suite("Audit history queries")
struct HistoryTests {
    /// Six batches by two actors about a few subjects.
    private func populated(_ directory: TemporaryDirectory) async throws -> KVStore {
        let store = try openStore(directory)
        _ = try await store.submit(put("f1", "on", actor: "alice", subjects: ["feature/F1", "component/api"], time: 1))
        _ = try await store.submit(put("f2", "on", actor: "bob", subjects: ["feature/F2"], time: 2))
        _ = try await store.submit(put("f1", "off", actor: "bob", subjects: ["feature/F1"], time: 3))
        _ = try await store.submit(put("f3", "on", actor: "alice", subjects: ["feature/F3", "component/api"], time: 4))
        _ = try await store.submit(put("f1", "on", actor: "alice", subjects: ["feature/F1"], time: 5))
        _ = try await store.submit(put("x", "y", actor: "carol", subjects: [], time: 6))
        return store
    }

    @Test("all entries, newest first, with their subjects in order")
    func all() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await self.populated(directory)
        let all = try await store.history(AuditQuery())
        #expect(all.map(\.revision) == [6, 5, 4, 3, 2, 1])
        #expect(all.map(\.entry.timeUnixMilliseconds) == [6, 5, 4, 3, 2, 1])
        #expect(all[2].entry.subjects == ["feature/F3", "component/api"])
        #expect(all[0].entry.subjects == [])
        await store.close()
    }

    @Test("by subject")
    func bySubject() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await self.populated(directory)
        #expect(try await store.history(AuditQuery(subject: "feature/F1")).map(\.revision) == [5, 3, 1])
        #expect(try await store.history(AuditQuery(subject: "component/api")).map(\.revision) == [4, 1])
        #expect(try await store.history(AuditQuery(subject: "nothing")).isEmpty)
        await store.close()
    }

    @Test("by actor")
    func byActor() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await self.populated(directory)
        #expect(try await store.history(AuditQuery(actor: "alice")).map(\.revision) == [5, 4, 1])
        #expect(try await store.history(AuditQuery(actor: "bob")).map(\.revision) == [3, 2])
        await store.close()
    }

    @Test("by revision range, limit, and filters combined")
    func rangeLimitCombined() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await self.populated(directory)
        #expect(try await store.history(AuditQuery(revisions: 2...4)).map(\.revision) == [4, 3, 2])
        #expect(try await store.history(AuditQuery(revisions: 5...100)).map(\.revision) == [6, 5])
        #expect(try await store.history(AuditQuery(limit: 2)).map(\.revision) == [6, 5])
        #expect(try await store.history(AuditQuery(limit: 0)).isEmpty)
        #expect(try await store.history(AuditQuery(subject: "feature/F1", actor: "alice")).map(\.revision) == [5, 1])
        #expect(try await store.history(AuditQuery(subject: "feature/F1", actor: "alice", revisions: 1...4)).map(\.revision) == [1])
        #expect(try await store.history(AuditQuery(subject: "feature/F1", limit: 1)).map(\.revision) == [5])

        var oldest = AuditQuery(revisions: 2...100, limit: 2)
        oldest.oldestFirst = true
        #expect(try await store.history(oldest).map(\.revision) == [2, 3], "paging forward keeps the oldest")
        var both = AuditQuery(subject: "feature/F1")
        both.alsoSubjects = ["component/api"]
        #expect(try await store.history(both).map(\.revision) == [1], "every subject must match")
        await store.close()
    }
}
