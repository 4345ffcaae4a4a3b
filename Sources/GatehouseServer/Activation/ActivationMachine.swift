import GatehouseCore

/// One two-phase API activation, as a value: which replicas were sent the
/// Prepare, which answered, and what to do next.
///
/// The coordinator feeds it what happens (an ack, a replica's stream ending,
/// the clock passing the deadline, the caller giving up) with the time it
/// happened, and acts on the one decision it returns: commit when every
/// replica is ready, abort at the first refusal, disconnection or the
/// deadline. It decides once; every event after that is ignored, so a late
/// ack cannot turn an abort into a commit. No clock of its own: time is
/// passed in, so tests drive it by hand.
struct ActivationMachine: Sendable {
    /// What the coordinator must do; returned once per activation.
    enum Decision: Hashable, Sendable {
        /// Every replica is ready: commit, and name them (sorted).
        case commit(prepared: [String])
        /// Send PrepareCancel to every replica, commit nothing, answer with this refusal.
        case abort(Abort)
    }

    /// Why an activation stopped, and who caused it.
    struct Abort: Hashable, Sendable {
        enum Cause: Hashable, Sendable {
            /// Replicas answered not ready, or their stream ended before they answered.
            case refused
            /// The deadline passed with replicas still silent.
            case timedOut
            /// The caller cancelled the RPC (or its deadline passed).
            case cancelled
        }

        var cause: Cause
        /// The replicas at fault, sorted, each with what it said (or what happened to it).
        var replicas: [Replica]
    }

    struct Replica: Hashable, Sendable {
        var instanceID: String
        var message: String
    }

    /// Identifies the Prepare on the wire.
    let id: String
    /// Unix milliseconds (server clock) by which every replica must have answered.
    let deadline: Int64
    /// Replicas sent the Prepare that have not answered yet.
    private(set) var waiting: Set<String>
    /// Replicas that answered ready.
    private(set) var ready: Set<String> = []
    /// Set once, by the event that decided.
    private(set) var decision: Decision?

    init(id: String, replicas: some Sequence<String>, deadline: Int64) {
        self.id = id
        self.deadline = deadline
        self.waiting = Set(replicas)
    }

    /// What to do before any ack: with no replica to ask, commit at once.
    mutating func start(at now: Int64) -> Decision? {
        self.settle(at: now)
    }

    /// A replica's PrepareAck. Acks from replicas not asked (or already counted) are ignored.
    mutating func acked(_ instanceID: String, ready: Bool, message: String, at now: Int64) -> Decision? {
        guard self.decision == nil else { return nil }
        if let expired = self.expire(at: now) { return expired }
        guard self.waiting.remove(instanceID) != nil else { return nil }
        guard ready else {
            let said = message.isEmpty ? "not ready (no message)" : message
            return self.decide(.abort(Abort(cause: .refused, replicas: [Replica(instanceID: instanceID, message: said)])))
        }
        self.ready.insert(instanceID)
        return self.settle(at: now)
    }

    /// A replica's subscription ended. Before it answered, that aborts: it cannot be told
    /// to apply the change in step with the others. After it answered ready, it is still
    /// counted (it will converge when it resubscribes, from the committed state).
    mutating func disconnected(_ instanceID: String, at now: Int64) -> Decision? {
        guard self.decision == nil else { return nil }
        if let expired = self.expire(at: now) { return expired }
        guard self.waiting.remove(instanceID) != nil else { return nil }
        return self.decide(.abort(Abort(cause: .refused, replicas: [Replica(instanceID: instanceID, message: "disconnected before answering the Prepare")])))
    }

    /// The clock moved: aborts once `now` reaches the deadline with replicas still silent.
    mutating func tick(at now: Int64) -> Decision? {
        guard self.decision == nil else { return nil }
        return self.expire(at: now)
    }

    /// The caller gave up.
    mutating func cancelled() -> Decision? {
        guard self.decision == nil else { return nil }
        return self.decide(.abort(Abort(cause: .cancelled, replicas: [])))
    }

    private mutating func settle(at now: Int64) -> Decision? {
        guard self.decision == nil else { return nil }
        if let expired = self.expire(at: now) { return expired }
        guard self.waiting.isEmpty else { return nil }
        return self.decide(.commit(prepared: self.ready.sorted()))
    }

    private mutating func expire(at now: Int64) -> Decision? {
        guard now >= self.deadline, !self.waiting.isEmpty else { return nil }
        let silent = self.waiting.sorted().map { Replica(instanceID: $0, message: "no answer by the deadline") }
        return self.decide(.abort(Abort(cause: .timedOut, replicas: silent)))
    }

    private mutating func decide(_ decision: Decision) -> Decision {
        self.decision = decision
        return decision
    }
}
