import Foundation
import GatehouseStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Damage is found at open and by StoreCheck, never served")
struct IntegrityTests {
    @Test("CRC-32C matches the published check value and does not depend on how the bytes are fed")
    func crc32c() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var pieces = CRC32C()
        pieces.update(bytes[0..<3])
        pieces.update(bytes[3..<517])
        pieces.update(bytes[517...])
        #expect(pieces.value == CRC32C.checksum(bytes))
    }

    @Test("a record edited into other valid JSON is refused at open, naming the row")
    func editedRecordIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", #"{"enabled":true}"#))
        _ = try await store.submit(put("b", #"{"enabled":true}"#))
        _ = try await store.submit(put("a", #"{"enabled":true,"n":1}"#))
        await store.close()

        try Self.sql(directory, #"UPDATE records SET value = CAST('{"enabled":false,"n":1}' AS BLOB) WHERE key = 'a'"#)

        #expect {
            _ = try openStore(directory)
        } throws: { error in
            guard case .damaged(let damage, let path) = error as? StoreError else { return false }
            return path == directory.database
                && damage == [StoreDamage(table: "records", row: "kv/a (revision 3)", problem: .checksumMismatch)]
                && "\(error)".contains("records kv/a (revision 3): contents do not match the stored checksum")
        }
        let report = try StoreCheck.run(path: directory.database)
        #expect(report.damage == [StoreDamage(table: "records", row: "kv/a (revision 3)", problem: .checksumMismatch)])
        #expect(report.records == 2 && report.auditEntries == 3 && report.revision == 3)
    }

    @Test("a record deleted whole, or added outside the store, is refused at open")
    func deletedRecordIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        _ = try await store.submit(put("b", "2"))
        _ = try await store.submit(put("a", "3"))
        _ = try await store.submit(put("c", "4"))
        _ = try await store.submit(put("c", nil))
        await store.close()
        #expect(try StoreCheck.run(path: directory.database).isClean, "updates and deletes keep the sum")

        try Self.sql(directory, "DELETE FROM records WHERE key = 'b'")
        let expected = StoreDamage(
            table: "records", row: "",
            problem: .invalid("the rows' checksums do not add up to the sum written with the last change: a record was deleted or added outside Gatehouse")
        )
        #expect {
            _ = try openStore(directory)
        } throws: { error in
            guard case .damaged(let damage, _) = error as? StoreError else { return false }
            return damage == [expected]
        }
        #expect(try StoreCheck.run(path: directory.database).damage == [expected])
    }

    @Test("an edited audit entry, a changed subject and a deleted entry are each named")
    func auditDamageIsNamed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        for index in 1...6 {
            _ = try await store.submit(put("k\(index)", "v"))
        }
        await store.close()

        try Self.sql(directory, "UPDATE audit SET reason = 'nothing to see' WHERE revision = 2")
        try Self.sql(directory, "UPDATE audit_subjects SET subject = 'other' WHERE revision = 3")
        try Self.sql(directory, "DELETE FROM audit WHERE revision IN (4, 5)")

        let expected = [
            StoreDamage(table: "audit", row: "revision 2", problem: .checksumMismatch),
            StoreDamage(table: "audit", row: "revision 3", problem: .checksumMismatch),
            StoreDamage(table: "audit", row: "revisions 4…5", problem: .missing),
        ]
        #expect {
            _ = try openStore(directory)
        } throws: { error in
            guard case .damaged(let damage, _) = error as? StoreError else { return false }
            return damage == expected
        }
        #expect(try StoreCheck.run(path: directory.database).damage == expected)
    }

    @Test("a zeroed audit page is refused at open, naming the entries it held")
    func zeroedAuditPageIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        // Enough entries for the audit table to span several leaf pages.
        let reason = String(repeating: "r", count: 200)
        for index in 1...100 {
            _ = try await store.submit { (state: KeyValues, _: Revision) in
                var next = state
                next.values["k\(index)"] = "v"
                let audit = AuditEntry(timeUnixMilliseconds: 1, actor: "admin", method: "/test/Put", reason: reason, subjects: ["k\(index)"])
                return .commit(next, records: [.put(kind: "kv", key: "k\(index)", value: Array("v".utf8))], audit: audit)
            }
        }
        await store.close()  // checkpoints: every page is in the main file now

        let inspect = try SQLiteConnection(path: directory.database, busyTimeoutMilliseconds: 1000)
        var leaves: [Int64] = []
        try inspect.statement("SELECT pageno FROM dbstat WHERE name = 'audit' AND pagetype = 'leaf' ORDER BY pageno").forEachRow { row in
            leaves.append(row.integer(0))
        }
        let pageSize = Int64(try inspect.pragma("PRAGMA page_size") ?? "4096") ?? 4096
        inspect.close()
        try #require(leaves.count >= 3)
        let victim = leaves[1]
        let file = try #require(FileHandle(forUpdatingAtPath: directory.database))
        try file.seek(toOffset: UInt64((victim - 1) * pageSize))
        try file.write(contentsOf: Data(count: Int(pageSize)))
        try file.close()

        var opened: StoreError?
        do {
            let damaged = try openStore(directory)
            await damaged.close()
        } catch let error as StoreError {
            opened = error
        }
        guard case .damaged(let damage, _) = try #require(opened) else {
            Issue.record("expected .damaged, got \(String(describing: opened))")
            return
        }
        // The page check names the page; the row scan names the revisions lost with it.
        #expect(damage.contains { if case .page(let line) = $0.problem { line.contains("Page \(victim)") } else { false } }, "\(damage)")
        let lost = damage.first { $0.table == "audit" && $0.row.hasPrefix("revisions ") && { if case .unreadable = $0.problem { true } else { false } }($0) }
        #expect(lost != nil, "\(damage)")
        #expect(!(lost?.row.contains("revisions 1…") ?? true), "only the entries of the zeroed page are lost: \(damage)")
        let report = try StoreCheck.run(path: directory.database)
        #expect(!report.isClean)
        #expect(report.damage.contains { $0.row == lost?.row })
    }

    @Test("a version-1 database gets checksums once, on its first open, and is guarded from then on")
    func migrationComputesChecksums() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let old = try SQLiteConnection(path: directory.database, busyTimeoutMilliseconds: 1000)
        try StoreSchema.migrate(old, migrations: [StoreSchema.migrations[0]])
        try old.execute(
            """
            INSERT INTO records (kind, key, value, create_revision, mod_revision) VALUES ('kv', 'a', CAST('1' AS BLOB), 1, 2);
            INSERT INTO audit (revision, time_unix_ms, actor, method, reason, before, after) VALUES (1, 5, 'admin', '/test/Put', 'first', x'', x'31');
            INSERT INTO audit (revision, time_unix_ms, actor, method, reason, before, after) VALUES (2, 6, 'admin', '/test/Put', 'again', x'31', x'31');
            INSERT INTO audit_subjects (revision, position, subject) VALUES (1, 0, 'a'), (2, 0, 'a');
            UPDATE meta SET revision = 2;
            """
        )
        old.close()
        #expect(try StoreCheck.run(path: directory.database).schemaVersion == 1)

        let store = try openStore(directory)
        #expect(store.snapshot.state == KeyValues(["a": "1"]))
        _ = try await store.submit(put("a", "2"))
        await store.close()
        let report = try StoreCheck.run(path: directory.database)
        #expect(report.schemaVersion == StoreSchema.migrations.count)
        #expect(report.isClean && report.auditEntries == 3 && report.records == 1, "\(report.damage)")

        try Self.sql(directory, "UPDATE audit SET actor = 'mallory' WHERE revision = 1")
        #expect(try StoreCheck.run(path: directory.database).damage == [StoreDamage(table: "audit", row: "revision 1", problem: .checksumMismatch)])
    }

    @Test("StoreCheck reads a database that a store holds open and is writing")
    func checkWhileOpen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        let report = try StoreCheck.run(path: directory.database)
        #expect(report.isClean && report.revision == 1)
        _ = try await store.submit(put("b", "2"))  // the store still writes after the check
        #expect(store.snapshot.revision == 2)
        await store.close()
    }

    @Test("StoreCheck refuses a missing file and a file that is not a Gatehouse database")
    func checkRefusesForeignFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: StoreError.self) { try StoreCheck.run(path: directory.database) }
        #expect(!FileManager.default.fileExists(atPath: directory.database), "a check never creates the file")
        let other = try SQLiteConnection(path: directory.database, busyTimeoutMilliseconds: 1000)
        try other.execute("CREATE TABLE t (x)")
        other.close()
        #expect {
            try StoreCheck.run(path: directory.database)
        } throws: { error in
            "\(error)".contains("no schema_version table")
        }
    }

    /// Runs `sql` on the closed store's file, as an operator with sqlite3 would.
    static func sql(_ directory: TemporaryDirectory, _ sql: String) throws {
        let connection = try SQLiteConnection(path: directory.database, busyTimeoutMilliseconds: 1000)
        try connection.execute(sql)
        connection.close()
    }
}

@Suite("The lock is on the database file itself")
struct FileLockTests {
    @Test("no lock file beside the database; the database file itself is flock-ed while open")
    func lockIsOnTheDatabase() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        #expect(!FileManager.default.fileExists(atPath: directory.database + ".lock"))
        // What a second process would try. (Idle, the store holds no fcntl lock
        // on the file, so closing this descriptor takes nothing from SQLite.)
        let descriptor = open(directory.database, O_RDWR)
        #expect(descriptor >= 0)
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)
        close(descriptor)
        _ = try await store.submit(put("b", "2"))
        await store.close()
        let reopened = try openStore(directory)
        #expect(reopened.snapshot.state == KeyValues(["a": "1", "b": "2"]))
        await reopened.close()
    }

    @Test("the database, its WAL and shared-memory files are created 0600")
    func filesArePrivate() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        for suffix in ["", "-wal", "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.database + suffix)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(suffix)")
        }
        await store.close()
    }
}
