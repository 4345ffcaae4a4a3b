import Dispatch
import Logging

/// The embedded ``GateStore``: one SQLite file in WAL mode, written by group commit.
///
/// Opening loads every record once and hands them to the caller's closure,
/// which rebuilds the in-memory `State`; from then on reads come from the
/// snapshot in memory and the file only receives changes. A crash at any
/// point loses no acknowledged batch and leaves no partial one: a batch is
/// acknowledged only after the COMMIT of its group, which fsyncs the WAL.
///
/// ```swift
/// let store = try SQLiteGateStore(path: "gatehouse.db") { loaded in
///     try Registry(records: loaded)          // the domain's own decoding
/// }
/// let committed = try await store.submit { state, next in
///     let (newState, records) = try state.enabling("Foo", at: next)
///     return .commit(newState, records: records, audit: entry)
/// }
/// ```
public final class SQLiteGateStore<State: Sendable>: GateStore {
    /// The database file.
    public let path: String
    private let writer: GroupCommitWriter<State>
    private let reader: QueueConfined<HistoryReader>
    /// The kept component instances, on a connection and queue of their own (not gate state).
    private let instances: QueueConfined<InstanceTable>
    private let lock: FileLock

    /// Opens (creating if needed) the database at `path` and rebuilds the state from it.
    ///
    /// Blocks while it migrates and loads: call it at startup, before serving.
    ///
    /// - Parameters:
    ///   - path: the SQLite file, created with mode 0600 when missing; `<path>-wal` and `<path>-shm` live beside it.
    ///   - initialState: builds the state from the stored records; its error is thrown as is.
    /// - Throws: ``StoreError`` when the file cannot be opened, is locked by another
    ///   store, has a newer schema, or is damaged (``StoreError/damaged(_:path:)``
    ///   names the rows); or `initialState`'s error.
    public init(
        path: String,
        configuration: SQLiteStoreConfiguration = SQLiteStoreConfiguration(),
        logger: Logger = Logger(label: "gatehouse.store"),
        initialState: (LoadedRecords) throws -> State
    ) throws {
        // The lock comes first: nothing, not even a migration, touches a file another store holds.
        let lock = try FileLock(databasePath: path)
        let database: StoreDatabase
        let loaded: LoadedRecords
        let state: State
        let reader: HistoryReader
        let instances: InstanceTable
        do {
            database = try StoreDatabase(path: path, configuration: configuration)
            do {
                loaded = try database.load()
                state = try initialState(loaded)
                reader = try HistoryReader(path: path, configuration: configuration)
                do {
                    instances = try InstanceTable(path: path, configuration: configuration)
                } catch {
                    reader.close()
                    throw error
                }
            } catch {
                database.close()
                throw error
            }
        } catch {
            // Only once no connection of this process has the file open (see FileLock).
            lock.release()
            throw error
        }
        self.path = path
        self.lock = lock
        self.writer = GroupCommitWriter(
            database: database,
            initial: StoreSnapshot(revision: loaded.revision, state: state),
            maximumGroupSize: configuration.maximumGroupSize,
            logger: logger
        )
        self.reader = QueueConfined(reader, on: DispatchQueue(label: "gatehouse.store.reader"))
        self.instances = QueueConfined(instances, on: DispatchQueue(label: "gatehouse.store.instances"))
        logger.info(
            "store opened",
            metadata: ["path": "\(path)", "revision": "\(loaded.revision)", "records": "\(loaded.count)"]
        )
    }

    public var snapshot: StoreSnapshot<State> {
        self.writer.snapshot
    }

    /// The group-commit counters, e.g. to export as metrics.
    public var statistics: GroupCommitStatistics {
        self.writer.statistics
    }

    public func submit<Value: Sendable>(
        _ transform: @escaping @Sendable (_ state: State, _ nextRevision: Revision) throws -> Transformation<State, Value>,
        completion: @escaping @Sendable (Result<Committed<Value>, any Error>) -> Void
    ) {
        self.writer.submit(transform, completion: completion)
    }

    public func history(_ query: AuditQuery) async throws -> [AuditRecord] {
        try await withCheckedThrowingContinuation { continuation in
            self.reader.queue.async {
                continuation.resume(
                    with: Result { () throws(StoreError) -> [AuditRecord] in
                        try self.reader.withValue { reader throws(StoreError) in try reader.history(query) }
                    }
                )
            }
        }
    }

    /// The component instances kept by ``writeInstances(_:)``, in (component, instance id) order.
    public func loadInstances() async throws -> [StoredInstance] {
        try await self.onInstanceQueue { table throws(StoreError) in try table.load() }
    }

    /// Keeps or forgets component instances, in one transaction of their own:
    /// no revision, no audit entry, no fsync (see ``InstanceTable``).
    public func writeInstances(_ changes: [StoredInstance.Change]) async throws {
        try await self.onInstanceQueue { table throws(StoreError) in try table.write(changes) }
    }

    private func onInstanceQueue<Value: Sendable>(_ body: @escaping @Sendable (InstanceTable) throws(StoreError) -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            self.instances.queue.async {
                continuation.resume(with: Result { () throws(StoreError) -> Value in try self.instances.withValue(body) })
            }
        }
    }

    public func close() async {
        await self.writer.close()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.instances.queue.async {
                self.instances.withValue { $0.close() }
                continuation.resume()
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.reader.queue.async {
                self.reader.withValue { $0.close() }
                continuation.resume()
            }
        }
        self.lock.release()
    }
}
