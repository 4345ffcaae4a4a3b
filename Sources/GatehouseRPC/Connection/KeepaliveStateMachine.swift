import NIOCore

/// Decides when a quiet connection is pinged, declared dead, or closed as
/// idle (PROTOCOL.md section 3.6).
///
/// Time is passed in, so the rules are tested without waiting; the channel
/// handler calls `tick` every `interval` and performs the answer.
struct KeepaliveStateMachine {
    enum Action: Equatable {
        case none
        /// Nothing arrived for a whole interval: probe the peer.
        case sendPing
        /// A probe went unanswered for another interval.
        case closeUnresponsive
        /// No call for the idle timeout.
        case closeIdle
    }

    let interval: TimeAmount
    let idleTimeout: TimeAmount
    private var lastFrameReceived: NIODeadline
    /// When the last call ended (or the connection started), while none is open.
    private var idleSince: NIODeadline?
    private var pingSentAt: NIODeadline?

    init(interval: TimeAmount, idleTimeout: TimeAmount, now: NIODeadline) {
        self.interval = interval
        self.idleTimeout = idleTimeout
        self.lastFrameReceived = now
        self.idleSince = now
    }

    /// Any frame proves the peer is alive.
    mutating func frameReceived(now: NIODeadline) {
        self.lastFrameReceived = now
        self.pingSentAt = nil
    }

    /// Calls opened or all ended: idleness counts only while none is open.
    mutating func openCallsChanged(hasOpenCalls: Bool, now: NIODeadline) {
        if hasOpenCalls {
            self.idleSince = nil
        } else if self.idleSince == nil {
            self.idleSince = now
        }
    }

    mutating func tick(now: NIODeadline) -> Action {
        if let idleSince = self.idleSince, now - idleSince >= self.idleTimeout {
            return .closeIdle
        }
        if let pingSentAt = self.pingSentAt {
            return now - pingSentAt >= self.interval ? .closeUnresponsive : .none
        }
        if now - self.lastFrameReceived >= self.interval {
            self.pingSentAt = now
            return .sendPing
        }
        return .none
    }
}
