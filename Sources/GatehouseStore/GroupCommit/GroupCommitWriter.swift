import CSQLite
import Dispatch
import Logging
import Synchronization

/// Commits submissions in groups, one transaction and one fsync per group, in
/// a two-stage pipeline: a stager runs the transforms of the next group while
/// the writer writes the current one.
///
/// Both stages are serial `DispatchQueue`s, never Swift's cooperative pool:
/// a blocking fsync there would stall every task in the process. Submitting
/// appends to an inbox and, if the stager is idle, schedules it. The stager
/// takes everything queued (up to ``SQLiteStoreConfiguration/maximumGroupSize``)
/// and runs the transforms in order against the *head*, the state after every
/// submission staged so far. What it stages while the writer is busy joins
/// the group waiting for the writer, so the next group is everything that
/// arrived meanwhile, as it would be without the pipeline. The writer writes
/// a group in one transaction, publishes the new snapshot, and only then
/// resumes its callers. Neither stage waits to fill a group: a lone writer
/// pays one fsync, many writers share one.
///
/// A group is staged on a state that is not yet durable. If the write of a
/// group fails, the group staged after it was built on changes that never
/// happened: the writer fails its callers with the same error (nothing of
/// theirs was written; they may retry), and the stager starts again from the
/// committed state. Refusals (a transform that threw) are answered when
/// staged, as refusals inside one group always were: against the state
/// before them.
///
/// Readers take ``snapshot`` under a lock held only to copy a reference,
/// so they never wait for a transform or an fsync; it only ever shows
/// committed groups.
final class GroupCommitWriter<State: Sendable>: Sendable {
    /// What the submitters, the stager and the writer share, under one lock.
    private struct Pipeline {
        /// Submissions not yet taken by the stager.
        var pending: [Submission<State>] = []
        /// Whether a drain is scheduled or running on the stager.
        var draining = false
        /// Staged groups, oldest first, waiting for the writer; the last one grows while it waits.
        var ready: [StagedGroup] = []
        /// Whether the writer is scheduled or writing.
        var writing = false
        var closed = false
        /// What the next submission is staged on: the state after the last one staged.
        var head: StoreSnapshot<State>
        /// Bumped when a write fails: groups staged on an older epoch are stale.
        var epoch = 0
        /// Callers of ``close()`` waiting for the pipeline to empty.
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// A group the stager has run, on its way to the writer.
    private struct StagedGroup {
        var staging: GroupStaging<State>
        /// The pipeline's epoch when it was staged.
        var epoch: Int
    }

    /// What only the writer's queue touches.
    private final class Core {
        let database: StoreDatabase
        var committed: StoreSnapshot<State>
        var epoch = 0
        /// The last failed write: groups staged on top of it fail with it.
        var lastFailure: (any Error)?
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
    private let limits: RecordLimits
    private let logger: Logger
    private let stager = DispatchQueue(label: "gatehouse.store.stager", qos: .userInitiated)
    private let pipeline: Mutex<Pipeline>
    private let published: Mutex<StoreSnapshot<State>>
    private let counters = Mutex(GroupCommitStatistics())
    private let core: QueueConfined<Core>

    /// Takes ownership of `database`, whose committed content `initial` reflects.
    init(database: StoreDatabase, initial: StoreSnapshot<State>, maximumGroupSize: Int, logger: Logger) {
        let queue = DispatchQueue(label: "gatehouse.store.writer", qos: .userInitiated)
        self.path = database.path
        self.maximumGroupSize = max(1, maximumGroupSize)
        self.limits = database.limits
        self.logger = logger
        self.pipeline = Mutex(Pipeline(head: initial))
        self.published = Mutex(initial)
        self.core = QueueConfined(Core(database: database, committed: initial), on: queue)
    }

    /// The latest committed snapshot; takes a lock only long enough to copy it.
    var snapshot: StoreSnapshot<State> {
        self.published.withLock { $0 }
    }

    var statistics: GroupCommitStatistics {
        var statistics = self.counters.withLock { $0 }
        statistics.pendingSubmissions = self.pipeline.withLock { $0.pending.count }
        return statistics
    }

    /// Queues `transform`; `completion` is called on the stager's or the writer's queue once the outcome is known.
    func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (State, Revision) throws -> Transformation<State, Value>,
        completion: @escaping @Sendable (Result<Committed<Value>, any Error>) -> Void
    ) {
        self.enqueue(Submission.wrapping(transform, completion: completion))
    }

    /// Refuses new submissions, lets the pipeline finish those already queued, then closes the database.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let schedule = self.pipeline.withLock { pipeline -> Bool in
                pipeline.closed = true
                pipeline.closeWaiters.append(continuation)
                return Self.claimDrain(&pipeline)
            }
            if schedule { self.stager.async { self.drain() } }
        }
    }

    private func enqueue(_ submission: Submission<State>) {
        let decision = self.pipeline.withLock { pipeline -> EnqueueDecision in
            if pipeline.closed {
                return .refuse
            }
            pipeline.pending.append(submission)
            return Self.claimDrain(&pipeline) ? .schedule : .queued
        }
        switch decision {
        case .refuse:
            submission.fail(StoreError.closed(path: self.path))
        case .schedule:
            self.stager.async { self.drain() }
        case .queued:
            break
        }
    }

    /// Marks a drain as scheduled unless one already is; true when the caller must schedule it.
    private static func claimDrain(_ pipeline: inout Pipeline) -> Bool {
        if pipeline.draining { return false }
        pipeline.draining = true
        return true
    }

    /// What the stager does next.
    private enum DrainStep {
        case stage([Submission<State>], on: StoreSnapshot<State>, epoch: Int)
        /// Nothing to stage; a new submission schedules the next drain.
        case stop
        /// Closed and empty: close the database, then resume these callers of `close()`.
        case closeDatabase([CheckedContinuation<Void, Never>])
    }

    /// Stages submissions until the inbox is empty. Runs on the stager's queue.
    private func drain() {
        while true {
            let step = self.pipeline.withLock { pipeline -> DrainStep in
                if pipeline.pending.isEmpty {
                    pipeline.draining = false
                    guard pipeline.closed, !pipeline.writing, pipeline.ready.isEmpty, !pipeline.closeWaiters.isEmpty else {
                        return .stop
                    }
                    defer { pipeline.closeWaiters = [] }
                    return .closeDatabase(pipeline.closeWaiters)
                }
                let taken = min(pipeline.pending.count, self.maximumGroupSize)
                let submissions = Array(pipeline.pending.prefix(taken))
                pipeline.pending.removeFirst(taken)
                return .stage(submissions, on: pipeline.head, epoch: pipeline.epoch)
            }
            switch step {
            case .stop:
                return
            case .closeDatabase(let waiters):
                self.closeDatabase(resuming: waiters)
                return
            case .stage(let submissions, let head, let epoch):
                var staging = GroupStaging(from: head)
                for submission in submissions {
                    staging.stage(
                        submission,
                        validate: { change in self.limits.check(change.records, change.audit) },
                        counted: { self.counters.withLock { $0.submissionsRefused += 1 } }
                    )
                }
                if self.hand(staging, epoch: epoch) {
                    self.core.queue.async { self.writeReady() }
                }
            }
        }
    }

    /// Puts a staged chunk in the writer's way, joining the group that waits
    /// if it was staged on it and there is room; true when the writer was idle
    /// and must be scheduled.
    private func hand(_ staging: GroupStaging<State>, epoch: Int) -> Bool {
        self.pipeline.withLock { pipeline -> Bool in
            // A write that failed meanwhile reset the head; this chunk is stale and the writer fails it.
            if pipeline.epoch == epoch { pipeline.head = staging.snapshot }
            if let last = pipeline.ready.indices.last, pipeline.ready[last].epoch == epoch,
                pipeline.ready[last].staging.submissions + staging.submissions <= self.maximumGroupSize
            {
                pipeline.ready[last].staging.append(staging)
            } else {
                pipeline.ready.append(StagedGroup(staging: staging, epoch: epoch))
            }
            if pipeline.writing { return false }
            pipeline.writing = true
            return true
        }
    }

    /// Closes the database on the writer's queue (idle: nothing is staged), then resumes `waiters`.
    private func closeDatabase(resuming waiters: [CheckedContinuation<Void, Never>]) {
        self.core.queue.async {
            self.core.withValue { core in
                if !core.closed {
                    core.closed = true
                    core.database.close()
                }
            }
            waiters.forEach { $0.resume() }
        }
    }

    /// Writes staged groups, oldest first, until none waits. Runs on the writer's queue.
    private func writeReady() {
        while true {
            let next = self.pipeline.withLock { pipeline -> (group: StagedGroup?, checkClose: Bool) in
                if pipeline.ready.isEmpty {
                    pipeline.writing = false
                    // A close waits for the writer to be idle: let the stager decide.
                    return (nil, pipeline.closed && Self.claimDrain(&pipeline))
                }
                return (pipeline.ready.removeFirst(), false)
            }
            guard let group = next.group else {
                if next.checkClose { self.stager.async { self.drain() } }
                return
            }
            self.core.withValue { self.write(group, core: $0) }
        }
    }

    private func write(_ group: StagedGroup, core: Core) {
        let staging = group.staging
        if core.closed {
            staging.finish(StoreError.closed(path: self.path))
            return
        }
        if let unavailable = core.unavailable {
            staging.finish(unavailable)
            return
        }
        if group.epoch != core.epoch, let failure = core.lastFailure {
            // Staged on a group whose write failed: nothing of it may be written.
            self.counters.withLock { $0.groupsFailed += 1 }
            staging.finish(failure)
            return
        }
        guard !staging.batches.isEmpty else {
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
            core.epoch += 1
            core.lastFailure = error
            let committed = core.committed
            self.pipeline.withLock { pipeline in
                pipeline.epoch = core.epoch
                pipeline.head = committed
            }
            self.counters.withLock { $0.groupsFailed += 1 }
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
            $0.largestGroup = max($0.largestGroup, batches)
        }
        staging.finish(nil)
    }
}

/// What a submitter must do after putting a submission in the inbox.
private enum EnqueueDecision {
    /// The store is closed: fail the submission.
    case refuse
    /// The stager was idle: schedule a drain.
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
        case .invalidRecord, .closed, .unreachable:
            return true
        case .schemaTooNew, .corrupt, .damaged, .alreadyOpen, .unavailable:
            return false
        }
    }
}
