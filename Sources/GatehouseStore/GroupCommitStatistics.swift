/// Counters of the group-commit writer, for metrics and for tests that prove grouping.
public struct GroupCommitStatistics: Hashable, Sendable {
    /// SQLite transactions committed (one fsync each).
    public var transactionsCommitted: Int = 0
    /// Batches committed (one revision each); above ``transactionsCommitted`` when groups form.
    public var batchesCommitted: Int = 0
    /// Submissions whose transform threw, or whose records SQLite could not take.
    public var submissionsRefused: Int = 0
    /// Groups whose write failed, or that were staged on one that did; every batch in them was failed to its caller.
    public var groupsFailed: Int = 0
    /// The most batches one transaction has held.
    public var largestGroup: Int = 0
    /// Submissions queued and not yet taken by the stager, at the time of reading.
    public var pendingSubmissions: Int = 0

    public init() {}
}
