import GatehouseCore
import GatehouseStore
import Logging

/// What a server shares with the other servers of its store: nothing over
/// SQLite (where it keeps its own instances, ``alone(keepingInstancesIn:retention:flushInterval:logger:)``); over etcd, their commits (for its subscribers), its instances and
/// theirs, and the election that picks the one that drives rollouts.
struct Peers: Sendable {
    /// This server's id among its peers, which its instance registry stamps
    /// its own instances with; nil for a server alone with its store.
    var serverID: String?
    /// Other servers' commits, for the subscription hub; nil when there are none.
    var foreignCommits: ForeignCommitRelay?
    /// Whether the instance registry tracks its changes for the store (a single
    /// server over SQLite keeps its instances across restarts, ``InstancePersistence``).
    var persistsInstances = false
    /// Joins the others once this server listens at `address` (`host:port`,
    /// the port actually bound) with `registry`: what it then runs and how it leaves.
    var join: @Sendable (_ address: String, _ registry: InstanceRegistry) async throws -> Membership
    /// Whether the shared store answers now (nil) or why not, for `/readyz`; nil for a
    /// local store, which is open for as long as the server serves.
    var storeCheck: (@Sendable () async -> String?)? = nil

    /// A server alone with its store: it always leads, and has no one to tell anything.
    static let none = Peers(serverID: nil, foreignCommits: nil) { _, _ in
        Membership(leadership: SoleServer(), run: {}, leave: {})
    }

    /// A server alone with its SQLite store, which keeps its instance list: taken
    /// back when it joins (before it announces it listens), written every
    /// `flushInterval` while it runs, and once more when it leaves (all disconnected by then).
    static func alone(
        keepingInstancesIn store: SQLiteGateStore<GateState>,
        retention: Duration,
        flushInterval: Duration,
        logger: Logger
    ) -> Peers {
        let retentionMilliseconds = retention.wholeMilliseconds
        return Peers(serverID: nil, foreignCommits: nil, persistsInstances: true) { _, registry in
            let persistence = InstancePersistence(
                registry: registry,
                flushInterval: flushInterval,
                retentionMilliseconds: retentionMilliseconds,
                logger: logger,
                load: { try await store.loadInstances() },
                write: { try await store.writeInstances($0) }
            )
            await persistence.restore()
            return Membership(leadership: SoleServer(), run: { await persistence.run() }, leave: { await persistence.flush() })
        }
    }
}

/// A server's part in a cluster of servers, from joining to leaving.
struct Membership: Sendable {
    /// Whether this server drives rollouts now.
    var leadership: any RolloutLeadership
    /// Runs beside the server until cancelled (sharing instances with the other servers).
    var run: @Sendable () async -> Void
    /// Leaves the cluster at shutdown, after the RPC server drained and the driver stopped:
    /// the others see this server's instances and leadership go at once, not after a lease's TTL.
    var leave: @Sendable () async -> Void
}
