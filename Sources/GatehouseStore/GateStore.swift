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

    /// Runs `transform` against the latest state and commits its change durably.
    ///
    /// Returns once the change is on disk (or, for ``Transformation/unchanged(_:)``,
    /// once the state the transform saw is). Throws the transform's own error
    /// if it refused, or a ``StoreError`` if the write failed, in which case
    /// nothing of the batch was applied. Cancelling the caller does not
    /// withdraw a submission the writer has already queued.
    ///
    /// - Parameter transform: called once, on the writer, with the state and
    ///   the revision its change would get; must be quick and must not block.
    func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (_ state: State, _ nextRevision: Revision) throws -> Transformation<State, Value>
    ) async throws -> Committed<Value>

    /// Committed audit records matching `query`, newest first.
    func history(_ query: AuditQuery) async throws -> [AuditRecord]

    /// Commits what was already submitted, refuses later submissions, and releases the database.
    func close() async
}
