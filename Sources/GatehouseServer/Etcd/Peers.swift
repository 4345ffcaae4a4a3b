/// What a server shares with the other servers of its store: nothing over
/// SQLite; over etcd, their commits (for its subscribers) and the election
/// that picks the one that drives rollouts.
struct Peers: Sendable {
    /// Whether this server drives rollouts now.
    var leadership: any RolloutLeadership
    /// Other servers' commits, for the subscription hub; nil when there are no other servers.
    var foreignCommits: ForeignCommitRelay?

    /// A server alone with its store.
    static let none = Peers(leadership: SoleServer(), foreignCommits: nil)
}
