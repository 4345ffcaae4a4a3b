/// Tuning of ``SQLiteGateStore``. Durability is not configurable: every commit is fsynced.
public struct SQLiteStoreConfiguration: Sendable {
    /// How long SQLite retries a locked database before failing with `SQLITE_BUSY`.
    ///
    /// The store holds an exclusive lock on the database file, so only its own reader and
    /// writer ever contend, and only briefly during WAL checkpoints.
    public var busyTimeoutMilliseconds: Int32 = 5_000

    /// The most submissions committed in one transaction.
    ///
    /// The writer never waits to fill a group: it takes whatever queued up
    /// while the previous fsync ran (natural batching), so a lone submission
    /// commits at once and under load groups grow by themselves. The cap only
    /// bounds one transaction's size and the latency of the callers it holds.
    public var maximumGroupSize: Int = 512

    /// A quota on the database size, in pages (`PRAGMA max_page_count`); nil for none.
    ///
    /// When it is reached a group fails with `SQLITE_FULL`, exactly as on a
    /// full disk; this is also how the tests produce that failure.
    public var maximumPageCount: Int? = nil

    /// How many WAL pages trigger a checkpoint (`PRAGMA wal_autocheckpoint`).
    ///
    /// The commit that crosses it copies the WAL's pages into the database
    /// and fsyncs it before its callers are answered, so the threshold sets
    /// the longest stall a commit pays. SQLite's 1,000 made that stall the
    /// p99 of 64 concurrent writers; at 250 the p99 fell from 16.2–18.3 to
    /// 15.3–16.8 ms with throughput unchanged (C toggle driver, 4 interleaved
    /// runs each). A lone writer checkpoints more often: its p99 rose from
    /// about 1.5 to 2 ms.
    public var walCheckpointPages: Int = 250

    /// The schema migrations, in order; tests substitute their own to exercise upgrades.
    package var migrations: [StoreSchema.Migration] = StoreSchema.migrations

    public init(
        busyTimeoutMilliseconds: Int32 = 5_000,
        maximumGroupSize: Int = 512,
        maximumPageCount: Int? = nil,
        walCheckpointPages: Int = 250
    ) {
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.maximumGroupSize = max(1, maximumGroupSize)
        self.maximumPageCount = maximumPageCount
        self.walCheckpointPages = max(1, walCheckpointPages)
    }
}
