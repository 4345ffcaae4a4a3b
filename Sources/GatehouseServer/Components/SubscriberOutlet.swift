import CoreMetrics
import GatehouseCore
import GatehouseRPC
import GatehouseWire
import NIOCore

/// Where one subscription's pushes leave: its queue and its stream, driven
/// entirely on the connection's event loop.
///
/// The hub delivers a change to every subscriber on an event loop with one
/// `execute`; each outlet queues it and, when no write is in flight, writes
/// it at once. No task wakes and no thread hops per subscriber, which is what
/// lets one change reach ten thousand connections quickly. All mutable state
/// is touched only on `eventLoop` (checked), hence `@unchecked Sendable`.
final class SubscriberOutlet: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let writer: RPCLoopWriter
    /// Told each revision written, for `Components/List`.
    private let pushed: @Sendable (Revision) -> Void
    private var queue: SubscriberQueue
    /// The join's messages (snapshot, or missed deltas and a heartbeat): always sent first, never coalesced.
    private var prelude: [ByteBuffer]?
    /// What the subscriber was last sent; deltas are relative to it.
    private var sent: PushState
    private var writing = false
    /// Messages that are not pushes (two-phase activation's Prepare and PrepareCancel),
    /// written in order after the prelude and before any queued push; never coalesced.
    private var control: [ByteBuffer] = []
    /// A watch (`gatectl watch`): pushed the same state, but not a replica, so never asked to prepare.
    let isWatch: Bool
    private var isEnded = false
    private let end: EventLoopPromise<RPCError>
    /// Commit to push written (``ServerMetrics/fanOutDuration``), nil when not measured.
    private let fanOut: CoreMetrics.Timer?
    /// When the oldest change not yet written to this subscriber was committed; nil when none waits.
    private var waitingSince: UInt64?
    /// When the newest change delivered was committed: what still waits after a write.
    private var newestDelivered: UInt64 = 0

    init(
        writer: RPCLoopWriter,
        limits: SubscriberQueue.Limits,
        isWatch: Bool = false,
        fanOut: CoreMetrics.Timer? = nil,
        pushed: @escaping @Sendable (Revision) -> Void
    ) {
        self.fanOut = fanOut
        self.eventLoop = writer.eventLoop
        self.isWatch = isWatch
        self.writer = writer
        self.pushed = pushed
        self.queue = SubscriberQueue(limits: limits)
        self.sent = PushState(revision: .zero)
        self.end = writer.eventLoop.makePromise(of: RPCError.self)
    }

    deinit {
        // Nobody holds the outlet any more, so nobody can wait on it: settle the promise rather than leak it.
        if !self.isEnded { self.end.succeed(RPCError(.cancelled, "the subscription was dropped")) }
    }

    /// Why the outlet ended: a failed write, a cut-off, the server closing, or the call ending.
    var ended: EventLoopFuture<RPCError> { self.end.futureResult }

    /// Sends the join's messages, then whatever was delivered meanwhile.
    func start(_ join: SubscriptionHub.Join, revision: Revision) {
        self.eventLoop.preconditionInEventLoop()
        self.sent = join.state
        self.prelude = join.initial
        self.pushed(revision)
        self.pump()
    }

    /// Queues `push` and writes it unless a write is in flight; `committedAt`
    /// (``ServerMetrics/now()``, 0 when unknown) is when its change was committed.
    func deliver(_ push: SubscriberPush, committedAt: UInt64 = 0) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.isEnded else { return }
        if committedAt != 0, self.fanOut != nil {
            if self.waitingSince == nil { self.waitingSince = committedAt }
            self.newestDelivered = committedAt
        }
        if case .cutOff(let error) = self.queue.deliver(push) {
            self.finish(error)
            return
        }
        self.pump()
    }

    /// Writes a message that is not a push (a Prepare or PrepareCancel) ahead of queued pushes.
    func sendControl(_ message: ByteBuffer) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.isEnded else { return }
        self.control.append(message)
        self.pump()
    }

    /// Ends the outlet (the first reason wins).
    func finish(_ error: RPCError) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.isEnded else { return }
        self.isEnded = true
        self.end.succeed(error)
    }

    /// Pushes folded into a latest state so far.
    var coalesced: Int {
        self.eventLoop.preconditionInEventLoop()
        return self.queue.coalesced
    }

    /// Writes the next message unless one is in flight or the prelude has not been set yet.
    private func pump() {
        guard !self.writing, !self.isEnded, var prelude = self.prelude else { return }
        let message: ByteBuffer
        var revision: Revision?
        if !prelude.isEmpty {
            message = prelude.removeFirst()
            self.prelude = prelude
        } else if !self.control.isEmpty {
            message = self.control.removeFirst()
        } else {
            guard let (next, advanced) = self.nextMessage() else { return }
            message = next
            revision = advanced
        }
        self.writing = true
        let written = revision
        // The write's future belongs to this loop: the callback runs here, with the state it guards.
        self.writer.write(message).whenComplete { result in
            self.writing = false
            switch result {
            case .success:
                self.queue.wrote()
                if let written {
                    self.pushed(written)
                    self.measureFanOut()
                }
                self.pump()
            case .failure(let error):
                self.finish(error as? RPCError ?? RPCError(.unavailable, "cannot write to the subscriber: \(error)"))
            }
        }
    }

    /// A change reached the socket: records how long the oldest one waiting took since its commit.
    private func measureFanOut() {
        guard let fanOut = self.fanOut, let since = self.waitingSince else { return }
        fanOut.recordNanoseconds(Int64(truncatingIfNeeded: ServerMetrics.now() &- since))
        self.waitingSince = self.queue.isEmpty ? nil : self.newestDelivered
    }

    /// The next queued push as bytes, and the revision it brings the subscriber to; skips pushes that change nothing for it.
    private func nextMessage() -> (ByteBuffer, Revision?)? {
        while let push = self.queue.next() {
            switch push {
            case .heartbeat(let bytes):
                return (bytes, nil)
            case .groupDelta(let bytes, let base, let state):
                defer { self.sent = state }
                if base == self.sent.revision { return (bytes, state.revision) }
                if let bytes = self.encode(state.delta(from: self.sent)) { return (bytes, state.revision) }
            case .latest(let state, let revision):
                var delta = state.delta(from: self.sent)
                delta.revision = max(revision, state.revision)
                self.sent = state
                if let bytes = self.encode(delta) { return (bytes, delta.revision) }
            }
        }
        return nil
    }

    private func encode(_ delta: PushDelta) -> ByteBuffer? {
        guard !delta.isEmpty else { return nil }
        do {
            return try ProtobufCoding.encode(delta.wire)
        } catch {
            self.finish(RPCError(.internal, "cannot encode a delta: \(error)"))
            return nil
        }
    }
}
