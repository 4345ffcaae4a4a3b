/// The working state of one group: the transforms applied so far, in order, on top of the state it was staged on.
///
/// A value, so a failed write is undone by dropping it: the state it
/// started from was never touched. It does no I/O: the only
/// side effect is resuming the callers it refuses.
struct GroupStaging<State: Sendable> {
    typealias Waiter = GroupWaiter

    private(set) var state: State
    private(set) var revision: Revision
    /// The revision of the state it was staged on.
    let baseRevision: Revision
    private(set) var batches: [StagedBatch] = []
    private(set) var waiters: [Waiter] = []
    /// Every submission staged, accepted or refused.
    private(set) var submissions = 0

    init(from base: StoreSnapshot<State>) {
        self.state = base.state
        self.revision = base.revision
        self.baseRevision = base.revision
    }

    /// Runs `submission` against the working state; an accepted change becomes the next batch.
    ///
    /// - Parameters:
    ///   - validate: a check of the change's records that SQLite would
    ///     otherwise fail for the whole group; its error refuses this submission only.
    ///   - counted: told of a refusal before its caller is answered, so a
    ///     caller that reads the counters after its refusal finds it counted.
    mutating func stage(_ submission: Submission<State>, validate: (StoreChange<State>) -> StoreError?, counted: () -> Void) {
        self.submissions += 1
        switch submission.stage(self.state, self.revision.next) {
        case .refused(let answer):
            counted()
            answer()
        case .accepted(nil, let complete):
            self.waiters.append(Waiter(complete: complete, revision: self.revision))
        case .accepted(let change?, let complete):
            if let error = validate(change) {
                counted()
                complete(.failure(error), true)
                return
            }
            self.revision = self.revision.next
            self.state = change.state
            self.batches.append(StagedBatch(revision: self.revision, records: change.records, audit: change.audit))
            self.waiters.append(Waiter(complete: complete, revision: self.revision))
        }
    }

    /// Takes in `later`, which was staged on this group's result, so both are written in one transaction.
    mutating func append(_ later: GroupStaging) {
        precondition(later.baseRevision == self.revision, "a group joins only the group it was staged on")
        self.state = later.state
        self.revision = later.revision
        self.batches += later.batches
        self.waiters += later.waiters
        self.submissions += later.submissions
    }

    /// The snapshot to publish once the batches are durable.
    var snapshot: StoreSnapshot<State> {
        StoreSnapshot(revision: self.revision, state: self.state)
    }

    /// Resumes every waiting caller with its revision (success) or with `error`, in order;
    /// the last is told it ends the group.
    func finish(_ error: (any Error)?) {
        self.waiters.finishAll(error)
    }
}
