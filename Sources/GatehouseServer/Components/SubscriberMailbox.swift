import GatehouseCore
import GatehouseRPC
import NIOCore
import Synchronization

/// What the hub hands one subscriber's sender.
enum SubscriberPush: Sendable, Equatable {
    /// A delta encoded once for the whole group; valid for a subscriber whose
    /// last pushed state is at `base`, otherwise the sender diffs `state` itself.
    case groupDelta(ByteBuffer, base: Revision, state: PushState)
    /// The subscriber's state is now `state` (its queue overflowed, or it moved
    /// to another group at `revision`): the sender diffs against what it last sent.
    case latest(PushState, revision: Revision)
    /// Encoded once for every subscriber.
    case heartbeat(ByteBuffer)
}

/// One subscriber's bounded queue between the hub, which never waits, and
/// the sender task, which waits for the subscriber's socket.
///
/// Up to `queueLimit` pushes wait in order; past that the queue collapses
/// into the latest state (coalescing), so a slow reader costs one state, not
/// one message per change. A subscriber that has not completed a write while
/// `cutoffAfter` changes were pushed to it is ended with RESOURCE_EXHAUSTED;
/// it resumes from its last revision when it reconnects.
final class SubscriberMailbox: Sendable {
    struct Limits: Sendable {
        /// Pushes queued before they are coalesced into the latest state.
        var queueLimit: Int
        /// Changes pushed without a completed write before the subscriber is cut off.
        var cutoffAfter: Int
    }

    private struct State {
        var queue = CircularBuffer<SubscriberPush>()
        /// Set once the queue overflowed: everything queued is replaced by this state.
        var latest: (state: PushState, revision: Revision)?
        var changesSinceWrite = 0
        var coalesced = 0
        var waiter: CheckedContinuation<SubscriberPush?, Never>?
        var ended: RPCError?
        /// The subscription's handler, waiting for the end whatever the sender is doing.
        var endWaiter: CheckedContinuation<RPCError, Never>?
    }

    private let limits: Limits
    private let state = Mutex(State())

    init(limits: Limits) {
        self.limits = limits
    }

    /// Queues a push; never waits. Returns false once the mailbox has ended.
    @discardableResult
    func deliver(_ push: SubscriberPush) -> Bool {
        let (waiter, item, alive) = self.state.withLock { state -> (CheckedContinuation<SubscriberPush?, Never>?, SubscriberPush?, Bool) in
            guard state.ended == nil else { return (nil, nil, false) }
            switch push {
            case .heartbeat:
                // Pending data already tells the subscriber the stream is alive.
                guard state.queue.isEmpty, state.latest == nil else { return (nil, nil, true) }
            case .groupDelta(_, _, let pushed), .latest(let pushed, _):
                state.changesSinceWrite += 1
                if state.changesSinceWrite > self.limits.cutoffAfter {
                    state.ended = RPCError(
                        .resourceExhausted,
                        "the subscriber fell \(state.changesSinceWrite) changes behind without reading; resubscribe with since_revision"
                    )
                    state.queue.removeAll()
                    state.latest = nil
                    if let endWaiter = state.endWaiter, let ended = state.ended {
                        state.endWaiter = nil
                        endWaiter.resume(returning: ended)
                    }
                    let waiter = state.waiter
                    state.waiter = nil
                    return (waiter, nil, false)
                }
                if state.latest != nil || state.queue.count >= self.limits.queueLimit {
                    let revision: Revision
                    if case .latest(_, let at) = push { revision = at } else { revision = pushed.revision }
                    state.queue.removeAll()
                    state.latest = (pushed, max(revision, state.latest?.revision ?? .zero))
                    state.coalesced += 1
                    return (nil, nil, true)
                }
            }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, push, true)
            }
            state.queue.append(push)
            return (nil, nil, true)
        }
        waiter?.resume(returning: item)
        return alive
    }

    /// The next push, waiting for one; nil once the mailbox has ended.
    func next() async -> SubscriberPush? {
        await withCheckedContinuation { (continuation: CheckedContinuation<SubscriberPush?, Never>) in
            let ready = self.state.withLock { state -> SubscriberPush?? in
                if state.ended != nil { return .some(nil) }
                if let latest = state.latest {
                    state.latest = nil
                    return .some(.latest(latest.state, revision: latest.revision))
                }
                if let push = state.queue.popFirst() { return .some(push) }
                precondition(state.waiter == nil, "one sender per mailbox")
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The next push if one is ready, without waiting (diagnostics and tests).
    func poll() -> SubscriberPush? {
        self.state.withLock { state in
            if let latest = state.latest {
                state.latest = nil
                return .latest(latest.state, revision: latest.revision)
            }
            return state.queue.popFirst()
        }
    }

    /// The sender completed a write: the subscriber is reading.
    func wrote() {
        self.state.withLock { $0.changesSinceWrite = 0 }
    }

    /// Ends the mailbox (first reason wins); a waiting sender gets nil.
    func end(_ error: RPCError) {
        let (waiter, endWaiter, reason) = self.state.withLock { state in
            if state.ended == nil { state.ended = error }
            state.queue.removeAll()
            state.latest = nil
            defer {
                state.waiter = nil
                state.endWaiter = nil
            }
            return (state.waiter, state.endWaiter, state.ended ?? error)
        }
        waiter?.resume(returning: nil)
        endWaiter?.resume(returning: reason)
    }

    /// Waits until the mailbox ends and returns why: the sender failed, the
    /// subscriber was cut off, or the call was cancelled (see ``end(_:)``).
    func waitUntilEnded() async -> RPCError {
        await withCheckedContinuation { (continuation: CheckedContinuation<RPCError, Never>) in
            let ended = self.state.withLock { state -> RPCError? in
                if let ended = state.ended { return ended }
                state.endWaiter = continuation
                return nil
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }

    /// Why the mailbox ended, once it has.
    var ended: RPCError? {
        self.state.withLock { $0.ended }
    }

    /// How many times the queue overflowed into the latest state.
    var coalescedCount: Int {
        self.state.withLock { $0.coalesced }
    }
}
