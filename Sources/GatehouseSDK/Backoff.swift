/// Reconnect delays: exponential growth up to a cap, with jitter.
///
/// Jitter matters more than growth here: when a server drains, every
/// component it served reconnects at once, and without jitter they would all
/// hit the next server in the same millisecond, again and again.
public struct Backoff: Hashable, Sendable {
    /// How jitter spreads a delay.
    public enum Jitter: Hashable, Sendable {
        /// Exactly the exponential delay (tests, or a single client).
        case none
        /// Uniform in 0…delay ("full jitter"): the widest spread.
        case full
        /// Uniform in delay × (1 ± fraction), e.g. 0.2 for ±20%.
        case proportional(Double)
    }

    /// The delay before the first retry.
    public var initial: Duration
    /// No delay is longer than this, jitter included.
    public var maximum: Duration
    /// Growth per consecutive failure.
    public var multiplier: Double
    public var jitter: Jitter

    public init(
        initial: Duration = .milliseconds(200),
        maximum: Duration = .seconds(30),
        multiplier: Double = 2,
        jitter: Jitter = .proportional(0.2)
    ) {
        precondition(initial >= .zero && maximum >= initial, "backoff needs 0 <= initial <= maximum")
        precondition(multiplier >= 1, "backoff multiplier must be at least 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (1 for the first), before jitter.
    public func baseDelay(attempt: Int) -> Duration {
        let initial = Self.seconds(self.initial)
        let maximum = Self.seconds(self.maximum)
        // Grow in floating point and stop at the cap, so a long outage cannot overflow.
        var delay = initial
        var step = 1
        while step < attempt, delay < maximum {
            delay *= self.multiplier
            step += 1
        }
        return Self.duration(min(delay, maximum))
    }

    /// The delay before retry number `attempt`, jittered with `generator`.
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let base = Self.seconds(self.baseDelay(attempt: attempt))
        let jittered: Double
        switch self.jitter {
        case .none:
            jittered = base
        case .full:
            jittered = Double.random(in: 0...base, using: &generator)
        case .proportional(let fraction):
            let spread = base * min(max(fraction, 0), 1)
            jittered = Double.random(in: (base - spread)...(base + spread), using: &generator)
        }
        return Self.duration(min(jittered, Self.seconds(self.maximum)))
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    private static func duration(_ seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
