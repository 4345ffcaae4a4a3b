import NIOCore

/// At most one log line per interval about refused connections, however many
/// there are, with a count of those that were not logged.
///
/// A flood of refused connections is exactly when the log must stay readable
/// (and the disk not fill): the first refusal is logged; those within the
/// next `interval` are only counted, and reported in one summary line when
/// the interval ends (the caller schedules it when told to), or with the
/// next logged refusal.
struct RefusalLogThrottle: Sendable {
    /// Why a connection was turned away.
    enum Reason: String, Hashable, Sendable, CaseIterable {
        /// The TLS handshake failed: no or a bad certificate, no common protocol, or the peer left.
        case handshakeFailed = "handshake_failed"
        /// Dropped while still in its TLS handshake, to make room for a newer one.
        case handshakeDropped = "handshake_dropped"
        /// Refused after its handshake: the connection limit (or the unreserved part of it) is full.
        case connectionLimit = "connection_limit"
        /// Accepted while the server was shutting down.
        case draining
    }

    enum Decision: Hashable, Sendable {
        /// Log this refusal, with the refusals suppressed since the last line (reasons with a count above 0).
        case log(suppressed: [Reason: Int])
        /// Log nothing now. With a deadline: call ``flush(now:)`` then, to report what was suppressed.
        case suppress(flushAt: NIODeadline?)
    }

    /// The shortest time between two lines.
    let interval: TimeAmount
    private var lastLine: NIODeadline?
    private var suppressed: [Reason: Int] = [:]
    private var flushScheduled = false

    init(interval: TimeAmount) {
        self.interval = interval
    }

    /// Refusals counted and not yet reported.
    var suppressedCount: Int { self.suppressed.values.reduce(0, +) }

    /// A connection was refused at `now`.
    mutating func refused(_ reason: Reason, now: NIODeadline) -> Decision {
        if let lastLine, now < lastLine + self.interval {
            self.suppressed[reason, default: 0] += 1
            guard !self.flushScheduled else { return .suppress(flushAt: nil) }
            self.flushScheduled = true
            return .suppress(flushAt: lastLine + self.interval)
        }
        let suppressed = self.suppressed
        self.suppressed = [:]
        self.lastLine = now
        return .log(suppressed: suppressed)
    }

    /// The scheduled flush is due: the counts to report in a summary line, or
    /// `nil` when a logged refusal already reported them.
    mutating func flush(now: NIODeadline) -> [Reason: Int]? {
        self.flushScheduled = false
        guard !self.suppressed.isEmpty else { return nil }
        let suppressed = self.suppressed
        self.suppressed = [:]
        self.lastLine = now
        return suppressed
    }
}
