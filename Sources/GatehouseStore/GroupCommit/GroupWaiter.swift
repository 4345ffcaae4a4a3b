import GatehouseCore

/// A caller waiting for its group's outcome, and the revision it will be told;
/// shared by every store that commits in groups (SQLite's and etcd's).
package struct GroupWaiter {
    package var complete: @Sendable (Result<Revision, any Error>, _ endsGroup: Bool) -> Void
    package var revision: Revision

    package init(complete: @escaping @Sendable (Result<Revision, any Error>, _ endsGroup: Bool) -> Void, revision: Revision) {
        self.complete = complete
        self.revision = revision
    }
}

extension Array where Element == GroupWaiter {
    /// Resumes every waiting caller with its revision (success) or with `error`, in order;
    /// the last is told it ends the group.
    package func finishAll(_ error: (any Error)?) {
        let last = self.count - 1
        for (index, waiter) in self.enumerated() {
            if let error {
                waiter.complete(.failure(error), index == last)
            } else {
                waiter.complete(.success(waiter.revision), index == last)
            }
        }
    }
}
