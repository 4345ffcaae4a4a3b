import GatehouseCore
import GatehouseRPC
import NIOCore

/// What the hub hands one subscriber.
enum SubscriberPush: Sendable, Equatable {
    /// A delta encoded once for the whole group; valid for a subscriber whose
    /// last pushed state is at `base`, otherwise the subscriber's own diff of `state` is sent.
    case groupDelta(ByteBuffer, base: Revision, state: PushState)
    /// The subscriber's state is now `state` (its queue overflowed, or it moved
    /// to another group at `revision`): the difference from what it last got is sent.
    case latest(PushState, revision: Revision)
    /// Encoded once for every subscriber.
    case heartbeat(ByteBuffer)
}

/// One subscriber's bounded queue: what waits while its socket is busy.
///
/// Up to `queueLimit` pushes wait in order; past that the queue collapses
/// into the latest state (coalescing), so a slow reader costs one state, not
/// one message per change. A subscriber that completes no write while
/// `cutoffAfter` changes are pushed to it is cut off with RESOURCE_EXHAUSTED;
/// it resumes from its last revision when it reconnects. A value with no
/// locks: its owner confines it to one event loop.
struct SubscriberQueue: Sendable {
    struct Limits: Sendable {
        /// Pushes queued before they are coalesced into the latest state.
        var queueLimit: Int
        /// Changes pushed without a completed write before the subscriber is cut off.
        var cutoffAfter: Int
    }

    enum Delivery: Equatable {
        case queued
        /// Collapsed into the latest state with what was queued.
        case coalesced
        /// A heartbeat behind pending data: it says nothing the data does not.
        case dropped
        case cutOff(RPCError)
    }

    let limits: Limits
    /// Small at first: most subscribers idle with nothing queued.
    private var items = CircularBuffer<SubscriberPush>(initialCapacity: 2)
    /// Set once the queue overflowed: replaces everything that was queued.
    private var latest: (state: PushState, revision: Revision)?
    private var changesSinceWrite = 0
    /// How many pushes were folded into a latest state.
    private(set) var coalesced = 0

    init(limits: Limits) {
        self.limits = limits
    }

    var isEmpty: Bool { self.items.isEmpty && self.latest == nil }

    mutating func deliver(_ push: SubscriberPush) -> Delivery {
        switch push {
        case .heartbeat:
            guard self.isEmpty else { return .dropped }
        case .groupDelta(_, _, let state), .latest(let state, _):
            self.changesSinceWrite += 1
            if self.changesSinceWrite > self.limits.cutoffAfter {
                self.items.removeAll()
                self.latest = nil
                return .cutOff(RPCError(
                    .resourceExhausted,
                    "the subscriber fell \(self.changesSinceWrite) changes behind without reading; resubscribe with since_revision"
                ))
            }
            if self.latest != nil || self.items.count >= self.limits.queueLimit {
                var revision = state.revision
                if case .latest(_, let at) = push { revision = max(revision, at) }
                self.items.removeAll()
                self.latest = (state, max(revision, self.latest?.revision ?? .zero))
                self.coalesced += 1
                return .coalesced
            }
        }
        self.items.append(push)
        return .queued
    }

    /// The next push to send, if any.
    mutating func next() -> SubscriberPush? {
        if let latest = self.latest {
            self.latest = nil
            return .latest(latest.state, revision: latest.revision)
        }
        return self.items.popFirst()
    }

    /// A write completed: the subscriber is reading.
    mutating func wrote() {
        self.changesSinceWrite = 0
    }
}
