/// What a server shares with the other servers of its store: nothing over
/// SQLite; over etcd, their commits (for its subscribers), its instances and
/// theirs, and the election that picks the one that drives rollouts.
struct Peers: Sendable {
    /// This server's id among its peers, which its instance registry stamps
    /// its own instances with; nil for a server alone with its store.
    var serverID: String?
    /// Other servers' commits, for the subscription hub; nil when there are none.
    var foreignCommits: ForeignCommitRelay?
    /// Joins the others once this server listens at `address` (`host:port`,
    /// the port actually bound) with `registry`: what it then runs and how it leaves.
    var join: @Sendable (_ address: String, _ registry: InstanceRegistry) async throws -> Membership

    /// A server alone with its store: it always leads, and has no one to tell anything.
    static let none = Peers(serverID: nil, foreignCommits: nil) { _, _ in
        Membership(leadership: SoleServer(), run: {}, leave: {})
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
