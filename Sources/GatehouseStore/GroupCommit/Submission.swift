/// A queued submission, its caller's completion captured inside and its result type erased,
/// so submissions of every result type share one queue (SQLite's writer's and etcd's).
package struct Submission<State: Sendable>: Sendable {
    /// Runs the caller's transform against the working state and the revision its change would get.
    package let stage: @Sendable (_ state: State, _ nextRevision: Revision) -> StagedSubmission<State>
    /// Fails the caller without running its transform (store closed or unavailable).
    package let fail: @Sendable (any Error) -> Void

    /// Wraps `transform` and the completion that waits for its outcome.
    package static func wrapping<Value: Sendable>(
        _ transform: @escaping @Sendable (State, Revision) throws -> Transformation<State, Value>,
        completion: @escaping @Sendable (Result<Committed<Value>, any Error>) -> Void
    ) -> Submission<State> {
        Submission(
            stage: { state, nextRevision in
                let transformation: Transformation<State, Value>
                do {
                    transformation = try transform(state, nextRevision)
                } catch {
                    return .refused(answer: { completion(.failure(error)) })
                }
                let value = transformation.value
                let changed = transformation.change != nil
                return .accepted(
                    transformation.change,
                    complete: { outcome, endsGroup in
                        switch outcome {
                        case .success(let revision):
                            completion(.success(Committed(revision: revision, changed: changed, value: value, endsGroup: endsGroup)))
                        case .failure(let error):
                            completion(.failure(error))
                        }
                    }
                )
            },
            fail: { error in
                completion(.failure(error))
            }
        )
    }
}

/// What running a submission's transform gave.
package enum StagedSubmission<State: Sendable> {
    /// The transform threw; `answer` resumes its caller with the error.
    case refused(answer: @Sendable () -> Void)
    /// The transform accepted: its change (nil when it changes nothing) and how to
    /// resume its caller once the group's outcome is known (and whether it is the group's last).
    case accepted(StoreChange<State>?, complete: @Sendable (Result<Revision, any Error>, _ endsGroup: Bool) -> Void)
}
