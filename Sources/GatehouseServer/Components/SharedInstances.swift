import GatehouseEtcd
import Logging

/// One fleet over several servers: each server writes its own instances to
/// etcd under its session's lease, and merges every other server's into its
/// ``InstanceRegistry``, so Components/List, Convergence, Explain, the
/// version-skew guard and the rollout driver see every instance whichever
/// server it is connected to.
///
/// Layout: `<prefix>instances/<component>/<instanceID>` holds the instance as
/// `gatehouse.v1.ComponentInstance` with `server` set (``SharedInstancesCodec``),
/// attached to the owning server's lease: a server that dies takes its
/// instances with it once its lease expires (the TTL, 10 s by default), and a
/// clean shutdown revokes the lease (``EtcdSession/close()``) so they go at once.
///
/// Coalesced: registrations, subscriptions, pushes, acks, NACKs and health
/// reports only mark an instance changed in the registry; every
/// ``flushInterval`` (250 ms) the changed ones are written, in Txns of at most
/// 100 puts, so 10,000 acks of one revision become at most 10,000 puts in
/// 100 Txns a quarter of a second later, and an instance that acks ten times
/// meanwhile is written once.
///
/// An instance that moves to another server (it reconnected there) is written
/// by both; each keeps the record that ``InstanceRegistry/Record/supersedes(_:)``
/// the other (the connected one, then the newest), and only that one is written
/// over the other: the servers agree without talking to each other.
///
/// Wiring (etcd mode only; a single server on SQLite has none of this):
/// ```swift
/// let registry = InstanceRegistry(now: now, capacity: capacity, server: session.serverID)
/// let shared = SharedInstances(registry: registry, session: session, logger: logger)
/// let sharing = Task { await shared.run() }
/// // ... at shutdown, after the RPC server drained:
/// sharing.cancel(); await sharing.value
/// await session.close()   // revokes the lease: the instances leave etcd at once
/// ```
final class SharedInstances: Sendable {
    let registry: InstanceRegistry
    let session: EtcdSession
    let directory: EtcdDirectory
    /// How often changed instances are written.
    let flushInterval: Duration
    private let logger: Logger
    private let flusher: InstanceChangeFlusher

    static let defaultFlushInterval: Duration = .milliseconds(250)

    /// - Parameters:
    ///   - registry: made with `server: session.serverID`.
    ///   - session: this server's session; its lease holds the instances.
    init(registry: InstanceRegistry, session: EtcdSession, flushInterval: Duration = SharedInstances.defaultFlushInterval, logger: Logger) {
        precondition(registry.server == session.serverID, "the registry shares as \(registry.server ?? "nothing"), the session is \(session.serverID)")
        self.registry = registry
        self.session = session
        self.directory = EtcdDirectory(kv: session.kv, prefix: "\(session.prefix)instances/")
        self.flushInterval = flushInterval
        var logger = logger
        logger[metadataKey: "component"] = "shared-instances"
        self.logger = logger
        self.flusher = InstanceChangeFlusher(
            registry: registry, logger: logger, destination: "to etcd",
            consequence: "other servers see them as they were until it works again"
        )
    }

    /// Writes this server's changes and follows the other servers' until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.follow() }
            group.addTask { await self.rewriteOnNewLease() }
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await Task.sleep(for: self.flushInterval)
                    } catch {
                        return
                    }
                    await self.flush()
                }
            }
            await group.waitForAll()
        }
    }

    /// Writes the instances changed since the last flush under the session's
    /// lease; on failure they stay changed for the next one.
    ///
    /// - Returns: how many changes were written (0 with no lease, or when the write failed).
    @discardableResult
    func flush() async -> Int {
        guard let lease = self.session.lease else { return 0 }
        return await self.flusher.flush(
            convert: { change -> EtcdDirectory.Change in
                switch change {
                case .put(let record): .put(key: SharedInstancesCodec.key(record.key), value: SharedInstancesCodec.encode(record))
                case .delete(let key): .delete(key: SharedInstancesCodec.key(key))
                }
            },
            write: { try await self.directory.write($0, lease: lease) }
        )
    }

    /// Merges the directory into the registry: everything once, then every change.
    private func follow() async {
        for await event in self.directory.follow(logger: self.logger) {
            switch event {
            case .snapshot(let entries):
                self.registry.replaceForeign(with: entries.compactMap(self.decode))
            case .put(let entry):
                if let record = self.decode(entry) { self.registry.learned(record) }
            case .deleted(let key):
                guard let slash = key.firstIndex(of: "/") else { continue }
                self.registry.forgot(.init(component: String(key[..<slash]), instanceID: String(key[key.index(after: slash)...])))
            }
        }
    }

    /// After the session's lease expired and a new one was granted, every
    /// own instance is written again under it (etcd deleted them with the old one).
    private func rewriteOnNewLease() async {
        var previous: Int64?
        for await lease in self.session.leases() {
            guard let lease else { continue }
            if let previous, previous != lease { self.registry.markAllChanged() }
            previous = lease
        }
    }

    private func decode(_ entry: EtcdDirectory.Entry) -> InstanceRegistry.Record? {
        do {
            return try SharedInstancesCodec.decode(key: entry.key, entry.value)
        } catch {
            self.logger.warning("skipping an unreadable shared instance", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
