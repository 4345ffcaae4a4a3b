import NIOCore

/// Counts the frames a peer makes the server answer for nothing — PINGs and
/// cancelled calls — and says when a connection has sent too many of them in
/// one window (PROTOCOL.md section 3.7).
///
/// Each PING costs the server an answer and each cancelled call the start of
/// a method, while the peer pays one small frame: without a bound, one
/// connection can keep a core busy and grow the server's memory (gRPC's
/// `too_many_pings`, HTTP/2's rapid reset, CVE-2023-44487). The connection is
/// then ended with GOAWAY `ENHANCE_YOUR_CALM`.
///
/// Windows are fixed (they restart when an event arrives after the last one
/// ended), so a peer may send up to twice a limit across a window boundary;
/// what matters is that the rate is bounded. Time is passed in.
struct FloodGuard {
    enum Event: Hashable {
        /// A PING without ACK: the server must answer it.
        case ping
        /// A CANCEL frame: a call the client gave up on, whether or not it
        /// was still open (a call refused as over the limit and then cancelled
        /// costs the server as much as any).
        case cancel
    }

    enum Verdict: Equatable {
        case allowed
        /// Over the limit: end the connection with this reason.
        case tooMany(String)
    }

    let window: TimeAmount
    let maxPings: Int
    let maxCancels: Int
    private var windowStart: NIODeadline
    private var pings = 0
    private var cancels = 0

    init(window: TimeAmount, maxPings: Int, maxCancels: Int, now: NIODeadline) {
        self.window = window
        self.maxPings = maxPings
        self.maxCancels = maxCancels
        self.windowStart = now
    }

    mutating func record(_ event: Event, now: NIODeadline) -> Verdict {
        if now - self.windowStart >= self.window {
            self.windowStart = now
            self.pings = 0
            self.cancels = 0
        }
        let seconds = self.window.nanoseconds % 1_000_000_000 == 0
            ? "\(self.window.nanoseconds / 1_000_000_000)" : "\(Double(self.window.nanoseconds) / 1e9)"
        switch event {
        case .ping:
            self.pings += 1
            guard self.pings <= self.maxPings else {
                return .tooMany("too many PINGs: more than \(self.maxPings) in \(seconds) s")
            }
        case .cancel:
            self.cancels += 1
            guard self.cancels <= self.maxCancels else {
                return .tooMany("too many cancelled calls: more than \(self.maxCancels) CANCEL frames in \(seconds) s")
            }
        }
        return .allowed
    }
}
