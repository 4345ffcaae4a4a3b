/// The working state of one group: the transforms applied so far, in order, on top of the last committed snapshot.
///
/// A value, so a failed write is undone by dropping it: the committed
/// snapshot it started from was never touched. It does no I/O: the only
/// side effect is resuming the callers it refuses.
struct GroupStaging<State: Sendable> {
    /// A caller waiting for the group's outcome, and the revision it will be told.
    struct Waiter {
        var complete: @Sendable (Result<Revision, any Error>) -> Void
        var revision: Revision
    }

    private(set) var state: State
    private(set) var revision: Revision
    private(set) var batches: [StagedBatch] = []
    private(set) var waiters: [Waiter] = []
    private(set) var refused = 0

    init(from committed: StoreSnapshot<State>) {
        self.state = committed.state
        self.revision = committed.revision
    }

    /// Runs `submission` against the working state; an accepted change becomes the next batch.
    ///
    /// - Parameter validate: a check of the change's records that SQLite would
    ///   otherwise fail for the whole group; its error refuses this submission only.
    mutating func stage(_ submission: Submission<State>, validate: (StoreChange<State>) -> StoreError?) {
        switch submission.stage(self.state, self.revision.next) {
        case .refused:
            self.refused += 1
        case .accepted(nil, let complete):
            self.waiters.append(Waiter(complete: complete, revision: self.revision))
        case .accepted(let change?, let complete):
            if let error = validate(change) {
                self.refused += 1
                complete(.failure(error))
                return
            }
            self.revision = self.revision.next
            self.state = change.state
            self.batches.append(StagedBatch(revision: self.revision, records: change.records, audit: change.audit))
            self.waiters.append(Waiter(complete: complete, revision: self.revision))
        }
    }

    /// The snapshot to publish once the batches are durable.
    var snapshot: StoreSnapshot<State> {
        StoreSnapshot(revision: self.revision, state: self.state)
    }

    /// Resumes every waiting caller with its revision (success) or with `error`.
    func finish(_ error: (any Error)?) {
        for waiter in self.waiters {
            if let error {
                waiter.complete(.failure(error))
            } else {
                waiter.complete(.success(waiter.revision))
            }
        }
    }
}
