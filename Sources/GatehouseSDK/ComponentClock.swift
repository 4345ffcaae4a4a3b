/// The time source of the boot deadline, the offline TTL and the idle watchdog.
///
/// Injected so tests move time by hand instead of sleeping through a TTL.
/// Instants are durations since an arbitrary origin.
protocol ComponentClock: Sendable {
    func now() -> Duration
    /// Sleeps until `deadline`; throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Duration) async throws
}

extension ComponentClock {
    func sleep(for duration: Duration) async throws {
        try await self.sleep(until: self.now() + duration)
    }
}

/// The real clock: `ContinuousClock`, which keeps counting while the machine sleeps.
struct ContinuousComponentClock: ComponentClock {
    private let origin = ContinuousClock.now

    func now() -> Duration {
        ContinuousClock.now - self.origin
    }

    func sleep(until deadline: Duration) async throws {
        try await ContinuousClock().sleep(until: self.origin + deadline, tolerance: nil)
    }
}
