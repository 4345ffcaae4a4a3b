import GatehouseStore
import Testing

@Suite("Schema versions and migrations")
struct SchemaTests {
    @Test("a later migration is applied on open and the data survives it")
    func migrationApplies() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try openStore(directory)
        _ = try await store.submit(put("a", "1"))
        await store.close()

        var upgraded = SQLiteStoreConfiguration()
        let current = StoreSchema.migrations.count
        upgraded.migrations.append(
            StoreSchema.Migration(version: current + 1, summary: "an index for tests", sql: "CREATE INDEX records_by_mod ON records (mod_revision)")
        )
        let reopened = try openStore(directory, configuration: upgraded)
        #expect(reopened.snapshot.state == KeyValues(["a": "1"]))
        await reopened.close()

        // The older build refuses the newer file instead of writing it.
        #expect {
            _ = try openStore(directory)
        } throws: { error in
            (error as? StoreError) == .schemaTooNew(found: current + 1, supported: current, path: directory.database)
        }
    }

    @Test("StoreError messages name the path and SQLite's code")
    func errorMessages() {
        let error = StoreError.sqlite(code: 13, message: "database or disk is full", operation: "COMMIT", path: "/var/lib/g.db")
        #expect(error.isDiskFull)
        #expect("\(error)" == "SQLite error 13 (database or disk is full) during COMMIT on /var/lib/g.db: database or disk is full")
        #expect(StoreError.sqlite(code: 778, message: "", operation: "COMMIT", path: "p").primaryCode == 10)
        #expect(StoreError.sqlite(code: 778, message: "", operation: "COMMIT", path: "p").leavesDiskConsistent == false)
        #expect(error.leavesDiskConsistent)
    }
}
