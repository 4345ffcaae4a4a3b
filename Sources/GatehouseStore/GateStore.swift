/// The narrow interface the server needs from persistence, whatever the backend.
///
/// Modelled on etcd's `mvcc.KV`: a read view (``snapshot``) that never waits
/// on the writer, and one write path (``submit(_:)``) through which every
/// change becomes a whole batch at the next ``Revision``. The SQLite backend
/// (``SQLiteGateStore``) serves one server; an etcd backend, where several
/// servers share one cluster and each watches it, is meant to fit the same
/// shape: its submit becomes an etcd transaction conditioned on the revision
/// the transform saw, retried on conflict.
///
/// The store is generic over `State`, the in-memory model the layer above
/// keeps; the store persists only the ``StoreRecord``s a transform returns.
public protocol GateStore<State>: Sendable {
    associatedtype State: Sendable

    /// The latest committed state; returns at once even while a commit is being written.
    var snapshot: StoreSnapshot<State> { get }

    /// Runs `transform` against the latest state and commits its change durably,
    /// then calls `completion` with the outcome.
    ///
    /// `completion` runs once the change is on disk (or, for
    /// ``Transformation/unchanged(_:)``, once the state the transform saw is),
    /// or with a ``StoreError`` if the write failed, in which case nothing of
    /// the batch was applied; those calls come from the store's writer, in
    /// revision order. A transform's own error is answered at once, from the
    /// thread that ran it (and a closed store's refusal from the caller's). It
    /// must be quick and must not block: callers on an event loop hop back to
    /// it. The `async` ``submit(_:)`` is built on this.
    ///
    /// - Parameter transform: called once, on the store's thread, with the
    ///   state after every change submitted before it, durable or still being
    ///   written (should that write fail, this submission fails with it), and
    ///   the revision its change would get; must be quick and must not block.
    func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (_ state: State, _ nextRevision: Revision) throws -> Transformation<State, Value>,
        completion: @escaping @Sendable (Result<Committed<Value>, any Error>) -> Void
    )

    /// Committed audit records matching `query`, newest first.
    func history(_ query: AuditQuery) async throws -> [AuditRecord]

    /// Commits what was already submitted, refuses later submissions, and releases the database.
    func close() async
}

extension GateStore {
    /// Runs `transform` against the latest state and commits its change durably.
    ///
    /// Returns once the change is on disk; throws as
    /// ``submit(_:completion:)`` completes. Cancelling the caller before the
    /// submission is queued refuses it (`CancellationError`); after, it does
    /// not withdraw it.
    public func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (_ state: State, _ nextRevision: Revision) throws -> Transformation<State, Value>
    ) async throws -> Committed<Value> {
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            self.submit(transform) { continuation.resume(with: $0) }
        }
    }
}
