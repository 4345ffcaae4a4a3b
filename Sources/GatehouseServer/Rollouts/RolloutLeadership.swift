/// Whether this server drives rollouts now.
///
/// One server over SQLite always does (``SoleServer``). Over etcd every server
/// could, and two drivers ticking the same rollout would each commit its next
/// step; so only the holder of the `<prefix>leader/rollouts` election drives
/// (GatehouseEtcd's `LeaderElection`, whose `whileLeading` is this protocol's). A transition is decided
/// again on the latest state inside the store's pipeline, and a commit is
/// conditioned on the revision it saw, so even the short overlap at a lease's
/// expiry cannot apply one step twice: the late commit restages, finds the
/// step already taken, and changes nothing.
protocol RolloutLeadership: Sendable {
    /// Runs `body` while this server leads: cancels it (and waits for it to
    /// return) when leadership is lost, starts it again when regained, and
    /// returns when the caller is cancelled or leadership ends for good.
    func whileLeading(_ body: @escaping @Sendable () async -> Void) async
}

/// The only server of its store: always the leader.
struct SoleServer: RolloutLeadership {
    func whileLeading(_ body: @escaping @Sendable () async -> Void) async {
        await body()
    }
}
