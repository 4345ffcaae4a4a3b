import GatehouseStore
import Logging

/// Keeps a single server's instance list in its SQLite store, so that after a
/// restart `gatectl components` lists the instances known before, marked
/// disconnected with the time they were last seen, until they reconnect.
///
/// Not gate state: records go to the store's `instances` table
/// (``SQLiteGateStore/writeInstances(_:)``), which bumps no revision and
/// writes no audit entry. Coalesced like ``SharedInstances``: pushes, acks,
/// NACKs, health reports and (dis)connections only mark an instance changed
/// in the registry; every ``flushInterval`` (2 s) the changed ones are written,
/// in transactions of at most 256 (the gate state's group commit waits while
/// one holds SQLite's write lock), and once more at shutdown, after the
/// subscriptions ended, so the list kept says every instance is disconnected.
///
/// Forgotten after ``retentionMilliseconds`` (24 h by default,
/// `serve --instance-retention`): an instance disconnected (or, never
/// connected, last seen) longer ago leaves the list and the table, at start
/// and about once a minute. Kept instances are never connected ones: the version-skew
/// guard counts only connected instances, as before, so a kept record of an
/// old build that never comes back does not hold back a change.
///
/// Over etcd nothing of this runs: instances live in etcd under their
/// server's lease (``SharedInstances``), which is what "connected" means
/// there, and a server's instances leave the list when it stops.
final class InstancePersistence: Sendable {
    let registry: InstanceRegistry
    let flushInterval: Duration
    let retentionMilliseconds: Int64
    private let load: @Sendable () async throws -> [StoredInstance]
    private let write: @Sendable ([StoredInstance.Change]) async throws -> Void
    private let logger: Logger
    private let flusher: InstanceChangeFlusher

    static let defaultFlushInterval: Duration = .seconds(2)
    static let defaultRetentionMilliseconds: Int64 = 24 * 3_600_000

    /// - Parameters:
    ///   - registry: made with `persisted: true`, so its changes are tracked.
    ///   - load: the kept instances (``SQLiteGateStore/loadInstances()``).
    ///   - write: keeps or forgets instances (``SQLiteGateStore/writeInstances(_:)``).
    init(
        registry: InstanceRegistry,
        flushInterval: Duration = InstancePersistence.defaultFlushInterval,
        retentionMilliseconds: Int64 = InstancePersistence.defaultRetentionMilliseconds,
        logger: Logger,
        load: @escaping @Sendable () async throws -> [StoredInstance],
        write: @escaping @Sendable ([StoredInstance.Change]) async throws -> Void
    ) {
        precondition(registry.tracksChanges, "the registry must be made with persisted: true")
        self.registry = registry
        self.flushInterval = flushInterval
        self.retentionMilliseconds = retentionMilliseconds
        self.load = load
        self.write = write
        var logger = logger
        logger[metadataKey: "component"] = "instances"
        self.logger = logger
        self.flusher = InstanceChangeFlusher(
            registry: registry, logger: logger, destination: "in the store",
            consequence: "a restart now may list them as they were"
        )
    }

    /// Takes back the kept instances into the registry, forgetting those past the retention.
    /// A failure to read them is logged, not thrown: the list then fills as instances reconnect, as it did before.
    func restore() async {
        let kept: [StoredInstance]
        do {
            kept = try await self.load()
        } catch {
            self.logger.error("cannot read the kept instances; the list fills again as instances reconnect", metadata: ["error": "\(error)"])
            return
        }
        var records: [InstanceRegistry.Record] = []
        for row in kept {
            do {
                records.append(try SharedInstancesCodec.decode(key: "\(row.component)/\(row.instanceID)", row.value, requireServer: false))
            } catch {
                self.logger.warning("skipping an unreadable kept instance", metadata: ["error": "\(error)"])
            }
        }
        let taken = self.registry.restore(records)
        let forgotten = self.registry.forget(disconnectedLongerThan: self.retentionMilliseconds)
        if taken > 0 {  // nothing to say on a first start
            self.logger.info("instances kept from before the restart", metadata: ["instances": "\(taken - forgotten.count)", "forgotten": "\(forgotten.count)"])
        }
        await self.flush()
    }

    /// Writes changes every ``flushInterval`` until cancelled, and forgets instances
    /// past the retention every ``pruneEvery`` flushes (a scan of every record, so not each time).
    func run() async {
        var flushes = 0
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.flushInterval)
            } catch {
                return
            }
            flushes += 1
            if flushes % Self.pruneEvery == 0 {
                self.registry.forget(disconnectedLongerThan: self.retentionMilliseconds)
            }
            await self.flush()
        }
    }

    /// Flushes between two looks for instances past the retention: with the default
    /// interval about once a minute, fine-grained enough for a retention counted in hours.
    static let pruneEvery = 30

    /// Writes the instances changed since the last flush; on failure they stay changed for the next one.
    /// - Returns: how many changes were written.
    @discardableResult
    func flush() async -> Int {
        await self.flusher.flush(
            convert: { change -> StoredInstance.Change in
                switch change {
                case .put(let record):
                    .put(StoredInstance(
                        component: record.key.component,
                        instanceID: record.key.instanceID,
                        value: SharedInstancesCodec.encode(record),
                        lastSeenUnixMilliseconds: record.lastSeenUnixMilliseconds
                    ))
                case .delete(let key):
                    .delete(component: key.component, instanceID: key.instanceID)
                }
            },
            write: self.write
        )
    }
}
