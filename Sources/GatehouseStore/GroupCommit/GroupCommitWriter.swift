import CSQLite
import Dispatch
import Logging
import Synchronization

/// Commits submissions in groups, one transaction and one fsync per group, on one dedicated thread.
///
/// The database connection lives on a serial `DispatchQueue`, never on
/// Swift's cooperative pool: a blocking fsync there would stall every task
/// in the process. Submitting appends to an inbox and, if the writer is idle,
/// schedules it; the writer then takes everything queued (up to
/// ``SQLiteStoreConfiguration/maximumGroupSize``), runs the transforms in
/// order against a working copy of the state, writes all accepted batches
/// in one transaction, publishes the new snapshot, and only then resumes the
/// callers. It never waits to fill a group: what queued up while the
/// previous fsync ran is the next group, so a lone writer pays one fsync and
/// many writers share one.
///
/// Readers take ``snapshot`` under a lock held only to copy a reference,
/// so they never wait for a transform or an fsync.
final class GroupCommitWriter<State: Sendable>: Sendable {
    /// Submissions not yet taken by the writer.
    private struct Inbox {
        var pending: [Submission<State>] = []
        /// Whether a drain is scheduled or running; cleared by the writer when it finds the inbox empty.
        var draining = false
        var closed = false
    }

    /// What only the writer's queue touches.
    private final class Core {
        let database: StoreDatabase
        var committed: StoreSnapshot<State>
        /// Set after a failure that leaves the disk uncertain; every later group fails with it.
        var unavailable: StoreError?
        var closed = false

        init(database: StoreDatabase, committed: StoreSnapshot<State>) {
            self.database = database
            self.committed = committed
        }
    }

    let path: String
    private let maximumGroupSize: Int
    private let logger: Logger
    private let inbox = Mutex(Inbox())
    private let published: Mutex<StoreSnapshot<State>>
    private let counters = Mutex(GroupCommitStatistics())
    private let core: QueueConfined<Core>

    /// Takes ownership of `database`, whose committed content `initial` reflects.
    init(database: StoreDatabase, initial: StoreSnapshot<State>, maximumGroupSize: Int, logger: Logger) {
        let queue = DispatchQueue(label: "gatehouse.store.writer", qos: .userInitiated)
        self.path = database.path
        self.maximumGroupSize = max(1, maximumGroupSize)
        self.logger = logger
        self.published = Mutex(initial)
        self.core = QueueConfined(Core(database: database, committed: initial), on: queue)
    }

    /// The latest committed snapshot; takes a lock only long enough to copy it.
    var snapshot: StoreSnapshot<State> {
        self.published.withLock { $0 }
    }

    var statistics: GroupCommitStatistics {
        var statistics = self.counters.withLock { $0 }
        statistics.pendingSubmissions = self.inbox.withLock { $0.pending.count }
        return statistics
    }

    /// Queues `transform`; `completion` is called on the writer's queue once the outcome is known.
    func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (State, Revision) throws -> Transformation<State, Value>,
        completion: @escaping @Sendable (Result<Committed<Value>, any Error>) -> Void
    ) {
        self.enqueue(Submission.wrapping(transform, completion: completion))
    }

    /// Refuses new submissions, lets the writer finish those already queued, then closes the database.
    func close() async {
        self.inbox.withLock { $0.closed = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.core.queue.async {
                self.core.withValue { core in
                    core.closed = true
                    core.database.close()
                }
                continuation.resume()
            }
        }
    }

    private func enqueue(_ submission: Submission<State>) {
        let decision = self.inbox.withLock { inbox -> EnqueueDecision in
            if inbox.closed {
                return .refuse
            }
            inbox.pending.append(submission)
            if inbox.draining {
                return .queued
            }
            inbox.draining = true
            return .schedule
        }
        switch decision {
        case .refuse:
            submission.fail(StoreError.closed(path: self.path))
        case .schedule:
            self.core.queue.async { self.drain() }
        case .queued:
            break
        }
    }

    /// Commits groups until the inbox is empty. Runs on the writer's queue.
    private func drain() {
        while true {
            let group = self.inbox.withLock { inbox -> [Submission<State>] in
                if inbox.pending.isEmpty {
                    inbox.draining = false
                    return []
                }
                if inbox.pending.count <= self.maximumGroupSize {
                    defer { inbox.pending = [] }
                    return inbox.pending
                }
                let group = Array(inbox.pending.prefix(self.maximumGroupSize))
                inbox.pending.removeFirst(self.maximumGroupSize)
                return group
            }
            if group.isEmpty {
                return
            }
            self.core.withValue { self.commit(group, core: $0) }
        }
    }

    /// Stages, writes and publishes one group, then resumes its callers.
    private func commit(_ group: [Submission<State>], core: Core) {
        if core.closed {
            group.forEach { $0.fail(StoreError.closed(path: self.path)) }
            return
        }
        if let unavailable = core.unavailable {
            group.forEach { $0.fail(unavailable) }
            return
        }

        var staging = GroupStaging(from: core.committed)
        for submission in group {
            staging.stage(submission) { change in
                core.database.validate(change.records, change.audit)
            }
        }
        let refused = staging.refused
        guard !staging.batches.isEmpty else {
            self.counters.withLock { $0.submissionsRefused += refused }
            staging.finish(nil)
            return
        }

        do {
            try core.database.write(staging.batches)
        } catch {
            let clean = !core.database.connection.inTransaction
            if clean && error.leavesDiskConsistent {
                self.logger.error(
                    "group commit failed; its batches were rolled back",
                    metadata: ["path": "\(self.path)", "batches": "\(staging.batches.count)", "error": "\(error)"]
                )
            } else {
                core.unavailable = StoreError.unavailable(cause: "\(error)", path: self.path)
                self.logger.critical(
                    "group commit failed and the disk state is uncertain; refusing writes until restart",
                    metadata: ["path": "\(self.path)", "batches": "\(staging.batches.count)", "error": "\(error)"]
                )
            }
            self.counters.withLock {
                $0.submissionsRefused += refused
                $0.groupsFailed += 1
            }
            staging.finish(error)
            return
        }

        let snapshot = staging.snapshot
        core.committed = snapshot
        self.published.withLock { $0 = snapshot }
        let batches = staging.batches.count
        self.counters.withLock {
            $0.transactionsCommitted += 1
            $0.batchesCommitted += batches
            $0.submissionsRefused += refused
            $0.largestGroup = max($0.largestGroup, batches)
        }
        staging.finish(nil)
    }
}

/// What a submitter must do after putting a submission in the inbox.
private enum EnqueueDecision {
    /// The store is closed: fail the submission.
    case refuse
    /// The writer was idle: schedule a drain.
    case schedule
    /// A drain is scheduled or running and will take it.
    case queued
}

extension StoreError {
    /// Whether a failed write left the database exactly as before it, so the writer may go on.
    ///
    /// A full disk, a busy lock or a refused value is rolled back by SQLite
    /// and changes nothing on disk. An I/O error may have hit the WAL after
    /// part of it reached the disk, and a failed fsync may have lost pages
    /// the kernel already marked clean: the only safe answer is to stop
    /// writing and reload from disk on restart.
    package var leavesDiskConsistent: Bool {
        switch self {
        case .sqlite:
            switch self.primaryCode ?? SQLITE_ERROR {
            case SQLITE_FULL, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CONSTRAINT, SQLITE_TOOBIG, SQLITE_MISMATCH,
                SQLITE_RANGE, SQLITE_NOMEM:
                return true
            default:
                return false
            }
        case .invalidRecord, .closed:
            return true
        case .schemaTooNew, .corrupt, .alreadyOpen, .unavailable:
            return false
        }
    }
}
