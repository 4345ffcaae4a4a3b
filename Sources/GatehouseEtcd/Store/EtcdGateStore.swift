import EtcdProto
import Foundation
import GatehouseStore
import Logging
import Synchronization

/// The ``GateStore`` several Gatehouse servers share: the records, the gate
/// revision and the audit trail in one etcd cluster under a prefix.
///
/// Opening reads every record and `<p>rev` at one etcd revision and watches
/// the prefix from the next. Reads come from the snapshot in memory, as with
/// ``SQLiteGateStore``; writes are group commits: the transforms of whatever
/// queued up run one after another on the working state, each taking the next
/// gate revision, and the group becomes one etcd transaction, applied only if
/// `<p>rev` has not moved since the state it was staged on. Gate revisions
/// therefore stay consecutive across servers, whatever else writes to etcd.
///
/// - A transaction that lost the race to another server waits (boundedly) for
///   the watch to bring the winner's batches, then runs its transforms again
///   on the newer state; a transform that now throws is answered with its error.
/// - A transaction whose answer was lost is looked up by its commit id in
///   `<p>rev` (or its first audit key) before it is either completed or staged again.
/// - etcd unreachable: the group fails with ``StoreError/unreachable(cause:path:)``,
///   which names the endpoint; nothing of it was applied and the working state is dropped.
/// - Batches committed by other servers move the snapshot forward in
///   gate-revision order, each replayed with `advance` and handed to the
///   ``observeCommits(_:)`` observer; this server's own commits reach their
///   callers through their completions instead, and are skipped on the watch.
///
/// One serial driver (an actor) stages, commits, applies the watch and runs
/// every completion and observer call, so all of them come in revision order.
/// Retention of the audit trail and etcd's own history: see ``EtcdStoreConfiguration``.
public final class EtcdGateStore<State: Sendable>: GateStore {
    /// The keys the store uses under its prefix.
    public let keys: EtcdStoreKeys
    /// `etcd <prefix>`: how errors and logs name the store.
    public let name: String
    private let shared: EtcdStoreShared<State>
    private let reader: EtcdStoreReader
    private let running: Task<Void, Never>

    private init(keys: EtcdStoreKeys, name: String, shared: EtcdStoreShared<State>, reader: EtcdStoreReader, running: Task<Void, Never>) {
        self.keys = keys
        self.name = name
        self.shared = shared
        self.reader = reader
        self.running = running
    }

    /// Loads the state from etcd and starts watching it.
    ///
    /// - Parameters:
    ///   - kv: the cluster (an `EtcdClient`).
    ///   - prefix: every key lives under it, e.g. `/gatehouse/`; servers sharing a store share it.
    ///   - initialState: builds the state from the stored records (as for the SQLite store).
    ///   - advance: replays one batch another server committed onto the state.
    /// - Throws: ``StoreError/unreachable(cause:path:)`` when etcd does not answer,
    ///   ``StoreError/corrupt(reason:path:)`` for a `<p>rev` it cannot read, or `initialState`'s error.
    public static func open(
        kv: any EtcdKV,
        prefix: String,
        configuration: EtcdStoreConfiguration = EtcdStoreConfiguration(),
        logger: Logger = Logger(label: "gatehouse.store.etcd"),
        initialState: @escaping @Sendable (LoadedRecords) throws -> State,
        advance: @escaping @Sendable (State, AuditRecord) throws -> State
    ) async throws -> EtcdGateStore<State> {
        let keys = EtcdStoreKeys(prefix: prefix)
        let name = "etcd \(prefix)"
        let reader = EtcdStoreReader(kv: kv, keys: keys, storeName: name)
        let loaded = try await reader.load()
        let state = try initialState(loaded.records)
        let snapshot = StoreSnapshot(revision: loaded.records.revision, state: state)
        let (events, continuation) = AsyncStream<DriverEvent>.makeStream()
        let shared = EtcdStoreShared(snapshot: snapshot, events: continuation)
        let driver = EtcdCommitDriver(
            kv: kv, keys: keys, name: name, configuration: configuration, logger: logger, shared: shared,
            reader: reader, initialState: initialState, advance: advance, loaded: loaded, snapshot: snapshot
        )
        let running = Task { await driver.run(events) }
        logger.info(
            "store opened",
            metadata: [
                "store": "\(name)", "revision": "\(loaded.records.revision)", "records": "\(loaded.records.count)",
                "etcd_revision": "\(loaded.etcdRevision)",
            ]
        )
        return EtcdGateStore(keys: keys, name: name, shared: shared, reader: reader, running: running)
    }

    public var snapshot: StoreSnapshot<State> {
        self.shared.published.withLock { $0 }
    }

    /// The counters so far.
    public var statistics: EtcdStoreStatistics {
        self.shared.statistics.withLock { $0 }
    }

    /// Registers the one observer of batches committed by other servers.
    ///
    /// Called from the store's driver, in gate-revision order with no gap and
    /// no repeat, after the snapshot includes the batch; `endsGroup` is false
    /// when more batches of the same transaction follow at once. This server's
    /// own batches are not passed here: their completions announce them. It
    /// must be quick and must not block. A later call replaces the observer.
    public func observeCommits(_ observer: @escaping @Sendable (AuditRecord, _ endsGroup: Bool) -> Void) {
        self.shared.observer.withLock { $0 = observer }
    }

    public func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (_ state: State, _ nextRevision: Revision) throws -> Transformation<State, Value>,
        completion: @escaping @Sendable (Result<Committed<Value>, any Error>) -> Void
    ) {
        let submission = Submission.wrapping(transform, completion: completion)
        let accepted = self.shared.inbox.withLock { inbox -> Bool in
            guard !inbox.closed else { return false }
            inbox.pending.append(submission)
            return true
        }
        guard accepted else {
            submission.fail(StoreError.closed(path: self.name))
            return
        }
        self.shared.events.yield(.submitted)
    }

    /// Reads `<prefix>rev` linearizably, which needs a quorum as a commit does:
    /// throws (etcd's error, naming the endpoint) when the store could not commit now.
    /// For readiness probes.
    public func checkReachable() async throws {
        _ = try await self.reader.readStamp()
    }

    public func history(_ query: AuditQuery) async throws -> [AuditRecord] {
        try await self.reader.history(query)
    }

    /// Commits (or fails) what was already submitted, refuses later submissions, and stops the watch.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.shared.inbox.withLock { $0.closed = true }
            if case .terminated = self.shared.events.yield(.close(continuation)) {
                continuation.resume()
            }
        }
        await self.running.value
    }
}

/// What the store's callers and its driver share, each under its own lock.
final class EtcdStoreShared<State: Sendable>: Sendable {
    struct Inbox {
        var pending: [Submission<State>] = []
        var closed = false
    }

    let published: Mutex<StoreSnapshot<State>>
    let inbox = Mutex(Inbox())
    let observer = Mutex<(@Sendable (AuditRecord, Bool) -> Void)?>(nil)
    let statistics = Mutex(EtcdStoreStatistics())
    /// Wakes the driver.
    let events: AsyncStream<DriverEvent>.Continuation

    init(snapshot: StoreSnapshot<State>, events: AsyncStream<DriverEvent>.Continuation) {
        self.published = Mutex(snapshot)
        self.events = events
    }

    /// Takes up to `count` queued submissions, oldest first.
    func take(_ count: Int) -> [Submission<State>] {
        self.inbox.withLock { inbox in
            let taken = Array(inbox.pending.prefix(count))
            inbox.pending.removeFirst(taken.count)
            return taken
        }
    }

    /// Puts submissions a full group could not take back at the head of the queue.
    func putBack(_ submissions: [Submission<State>]) {
        self.inbox.withLock { $0.pending.insert(contentsOf: submissions, at: 0) }
    }
}

/// What wakes the driver.
enum DriverEvent: Sendable {
    /// Something was submitted.
    case submitted
    /// A watch response of watch `generation`.
    case watched(Etcdserverpb_WatchResponse, generation: Int)
    /// Watch `generation` ended, with its error if it broke.
    case watchEnded((any Error)?, generation: Int)
    /// Timer `id` fired.
    case timer(Int)
    /// `close()` waits for this to be resumed.
    case close(CheckedContinuation<Void, Never>)
}
