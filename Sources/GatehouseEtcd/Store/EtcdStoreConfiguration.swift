/// Tuning of ``EtcdGateStore``.
///
/// ## History kept in etcd
///
/// Every commit writes one audit key per gate revision under `<prefix>audit/`
/// and, in the same transaction, deletes the audit keys older than the newest
/// ``auditRetention`` revisions: History (`gatectl history`) and a subscriber's
/// resume window reach back that far and no further, and the audit keys take
/// a bounded share of etcd's space.
///
/// etcd keeps its own multi-version history on top of that: every write of a
/// key leaves an old version until etcd compacts it. Run etcd with
/// `--auto-compaction-mode=periodic --auto-compaction-retention=1h` (or
/// `revision` mode) so that history is compacted, and size
/// `--quota-backend-bytes` (default 2 GiB; 8 GiB at most is advised) for the
/// records, the retained audit entries and an hour of versions. When the quota
/// is reached etcd refuses writes (`NOSPACE` alarm) and every change through
/// Gatehouse is answered UNAVAILABLE until an operator compacts, defragments
/// and disarms the alarm (`etcdctl compact`, `etcdctl defrag`, `etcdctl alarm disarm`).
/// Gatehouse never relies on etcd's old versions: a watch whose start was
/// compacted away reads the audit keys instead.
public struct EtcdStoreConfiguration: Sendable {
    /// How many of the newest audit entries each commit keeps (default 10,000).
    public var auditRetention: UInt64

    /// The most operations in one commit transaction: etcd's `--max-txn-ops` (default 128).
    ///
    /// A group stops growing before it would exceed this; a single batch that
    /// alone needs more is refused with an error naming the flag.
    public var maximumTransactionOperations: Int

    /// The largest commit transaction in bytes: etcd's `--max-request-bytes` (default 1.5 MiB).
    public var maximumRequestBytes: Int

    /// The most submissions committed in one transaction, before the operation and byte limits.
    public var maximumGroupSize: Int

    /// How long a commit that lost a race waits for the watch to bring the
    /// winner's batches before it reads them itself.
    public var conflictWait: Duration

    /// How long the store keeps asking etcd whether a commit whose answer was
    /// lost was applied, before it answers its callers that etcd is unreachable.
    public var ambiguityTimeout: Duration

    /// How many times one group is restaged after losing races before its
    /// callers are told to retry (another server committing continuously).
    public var maximumRestages: Int

    /// The pause before a broken watch is opened again.
    public var watchRetryDelay: Duration

    public init(
        auditRetention: UInt64 = 10_000,
        maximumTransactionOperations: Int = 128,
        maximumRequestBytes: Int = 1_572_864,
        maximumGroupSize: Int = 512,
        conflictWait: Duration = .seconds(2),
        ambiguityTimeout: Duration = .seconds(3),
        maximumRestages: Int = 64,
        watchRetryDelay: Duration = .milliseconds(250)
    ) {
        self.auditRetention = max(1, auditRetention)
        // The revision key and the audit trim take two operations of every transaction.
        self.maximumTransactionOperations = max(4, maximumTransactionOperations)
        self.maximumRequestBytes = max(4096, maximumRequestBytes)
        self.maximumGroupSize = max(1, maximumGroupSize)
        self.conflictWait = conflictWait
        self.ambiguityTimeout = ambiguityTimeout
        self.maximumRestages = max(1, maximumRestages)
        self.watchRetryDelay = watchRetryDelay
    }
}
