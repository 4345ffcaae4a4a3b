import Testing
@testable import GatehouseSDK

@Suite("Backoff")
struct BackoffTests {
    @Test("grows by the multiplier from the initial delay")
    func grows() {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30), multiplier: 2, jitter: .none)
        #expect(backoff.baseDelay(attempt: 1) == .milliseconds(200))
        #expect(backoff.baseDelay(attempt: 2) == .milliseconds(400))
        #expect(backoff.baseDelay(attempt: 3) == .milliseconds(800))
        #expect(backoff.baseDelay(attempt: 6) == .milliseconds(6400))
    }

    @Test("caps at the maximum, even after very many attempts")
    func caps() {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30), multiplier: 2, jitter: .none)
        #expect(backoff.baseDelay(attempt: 9) == .seconds(30))  // 51.2 s uncapped
        #expect(backoff.baseDelay(attempt: 10_000) == .seconds(30))
        var generator = SeededGenerator(seed: 1)
        #expect(backoff.delay(attempt: 50, using: &generator) == .seconds(30))
    }

    @Test("proportional jitter stays within ±20% and never above the maximum")
    func proportionalJitter() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), multiplier: 2, jitter: .proportional(0.2))
        var generator = SeededGenerator(seed: 42)
        var seen = Set<Duration>()
        for attempt in 1...8 {
            let base = backoff.baseDelay(attempt: attempt)
            for _ in 0..<200 {
                let delay = backoff.delay(attempt: attempt, using: &generator)
                #expect(delay >= base * 0.8 - .nanoseconds(1))
                #expect(delay <= min(base * 1.2, .seconds(30)) + .nanoseconds(1))
                seen.insert(delay)
            }
        }
        #expect(seen.count > 1000, "jitter spreads delays")
    }

    @Test("full jitter is uniform in zero…base: low and high halves both occur")
    func fullJitter() {
        let backoff = Backoff(initial: .seconds(2), maximum: .seconds(30), multiplier: 2, jitter: .full)
        var generator = SeededGenerator(seed: 7)
        var low = 0
        var high = 0
        for _ in 0..<1000 {
            let delay = backoff.delay(attempt: 1, using: &generator)
            #expect(delay >= .zero && delay <= .seconds(2))
            if delay < .seconds(1) { low += 1 } else { high += 1 }
        }
        #expect(low > 400 && high > 400)
    }

    @Test("the same seed gives the same delays")
    func deterministic() {
        let backoff = Backoff()
        var first = SeededGenerator(seed: 99)
        var second = SeededGenerator(seed: 99)
        let a = (1...10).map { backoff.delay(attempt: $0, using: &first) }
        let b = (1...10).map { backoff.delay(attempt: $0, using: &second) }
        #expect(a == b)
    }
}
