import Foundation
import GatehouseProto
import GatehouseRPC

extension GatehouseComponent {
    /// Reports the application's health; sent on the subscription if it differs from the last report.
    ///
    /// Use it from the application's own probes, or configure a
    /// `Configuration.healthCheck` and let the component poll; both feed the
    /// same latest status. Before the first report the component sends
    /// nothing, and a rollout judges the instance on its acks alone.
    public func reportHealth(_ status: HealthStatus) {
        self.record(HealthReading(status))
    }

    /// The latest status reported or checked; nil before the first.
    public var health: HealthStatus? {
        self.healthBoard.withLock { $0.latest?.status }
    }

    func record(_ reading: HealthReading) {
        let wake = self.healthBoard.withLock { board in board.record(reading) }
        for listener in wake {
            listener.yield()
        }
    }

    /// Runs the configured check every interval, and at once after each server change
    /// applied, for as long as the component runs.
    ///
    /// The early run is for rollouts: a canary that breaks under the change it was
    /// just pushed says so within the check's own time, not an interval later.
    func pollHealth(_ check: HealthCheck) async {
        var requests = self.healthCheckRequests.makeAsyncIterator()
        while !Task.isCancelled {
            let status: HealthStatus
            do {
                status = try await check.check(self.snapshot)
            } catch is CancellationError {
                return
            } catch {
                status = .unhealthy("health check failed: \(error)")
            }
            self.reportHealth(status)
            let timer = Task { [clock = self.clock, requester = self.healthCheckRequester] in
                guard (try? await clock.sleep(for: check.interval)) != nil else { return }
                requester.yield()
            }
            let next: Void? = await requests.next()
            timer.cancel()
            guard next != nil else { return }
        }
    }

    /// Sends health reports on one subscription as `HealthSchedule` says, until cancelled or the stream fails.
    func sendHealth(on stream: RPCResponseMessages<Gatehouse_V1_SubscribeResponse>) async {
        let (wakeups, waker) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = self.healthBoard.withLock { $0.listen(waker) }
        defer { self.healthBoard.withLock { $0.stopListening(id) } }
        var schedule = HealthSchedule(repeatInterval: self.configuration.healthRepeatInterval)
        var timer: Task<Void, Never>?
        defer { timer?.cancel() }
        waker.yield()  // the latest reading once, as the subscription opens
        for await _ in wakeups {
            let latest = self.healthBoard.withLock { $0.latest }
            guard let reading = schedule.due(latest, now: self.clock.now()) else { continue }
            do {
                try await stream.send(Gatehouse_V1_SubscribeRequest.with { $0.health = reading.wire })
            } catch {
                return  // the subscription is over; its reader reports why
            }
            timer?.cancel()
            timer = schedule.nextRepeat.map { deadline in
                Task { [clock = self.clock] in
                    guard (try? await clock.sleep(until: deadline)) != nil else { return }
                    waker.yield()
                }
            }
        }
    }
}

/// The latest health reading and the subscriptions to wake when it changes.
struct HealthBoard {
    private(set) var latest: HealthReading?
    private var listeners: [UInt64: AsyncStream<Void>.Continuation] = [:]
    private var nextListener: UInt64 = 0

    /// Keeps `reading`; returns whom to wake: every listener when the status changed, else nobody.
    ///
    /// An unchanged status still refreshes the time, so a repeat carries when it was last confirmed.
    mutating func record(_ reading: HealthReading) -> [AsyncStream<Void>.Continuation] {
        let changed = self.latest?.status != reading.status
        self.latest = reading
        return changed ? Array(self.listeners.values) : []
    }

    mutating func listen(_ continuation: AsyncStream<Void>.Continuation) -> UInt64 {
        self.nextListener += 1
        self.listeners[self.nextListener] = continuation
        return self.nextListener
    }

    mutating func stopListening(_ id: UInt64) {
        self.listeners[id]?.finish()
        self.listeners[id] = nil
    }
}
