/// Counters of an ``EtcdGateStore``, for metrics and for tests that prove what happened.
public struct EtcdStoreStatistics: Hashable, Sendable {
    /// Commit transactions etcd applied for this store (one per group).
    public var transactionsCommitted = 0
    /// Batches (gate revisions) this store committed.
    public var batchesCommitted = 0
    /// The most batches one transaction has held.
    public var largestGroup = 0
    /// Commit transactions that lost the race to another server's and were staged again.
    public var conflicts = 0
    /// Commits whose answer was lost and whose outcome was read back from `<p>rev`.
    public var ambiguousCommits = 0
    /// Batches other servers committed, replayed from the watch or read back.
    public var foreignBatches = 0
    /// Times the state was rebuilt from a full read because the history it
    /// needed was gone (audit retention) or unreadable.
    public var reloads = 0

    public init() {}
}
