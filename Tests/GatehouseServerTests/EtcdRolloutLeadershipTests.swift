import Foundation
import GatehouseCore
import Logging
import Synchronization
import Testing

@testable import GatehouseServer

/// The rollout driver ticks only while its server leads (over etcd, while it
/// holds the election); losing leadership stops it, regaining starts it again.
@Suite struct EtcdRolloutLeadershipTests {
    /// What the driver's pacing sleep reports: a tick began waiting, or that wait was cancelled.
    enum Pace: Equatable, Sendable { case waiting, cancelled }

    /// A driver whose every tick waits until cancelled, reporting each wait and
    /// its cancellation: ticking is observed without any real time passing.
    static func driver(_ bench: RolloutDriverTests.Bench, pace: AsyncStream<Pace>.Continuation) -> RolloutDriver {
        RolloutDriver(
            gates: bench.gates, registry: bench.registry, serverStartedAt: UnixMilliseconds(0),
            sleep: { _ in
                pace.yield(.waiting)
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    pace.yield(.cancelled)
                    throw error
                }
            },
            logger: Logger(label: "test")
        )
    }

    @Test func theDriverRunsOnlyWhileLeading() async throws {
        let bench = try await RolloutDriverTests.Bench.make()
        let (paces, pace) = AsyncStream<Pace>.makeStream()
        let (changes, leadership) = AsyncStream<Bool>.makeStream()
        let driver = Self.driver(bench, pace: pace)
        let running = Task { await driver.run(leadership: LeadershipChanges(changes)) }
        var observed = paces.makeAsyncIterator()

        // Not leading: nothing ticks. Then elected: ticks; then not leading: cancelled.
        leadership.yield(false)
        leadership.yield(true)
        #expect(await observed.next() == .waiting)
        leadership.yield(true)
        leadership.yield(false)
        #expect(await observed.next() == .cancelled)
        // Elected again: ticking resumes; the election ends: stopped.
        leadership.yield(true)
        #expect(await observed.next() == .waiting)
        leadership.finish()
        #expect(await observed.next() == .cancelled)
        await running.value
        pace.finish()
        #expect(await observed.next() == nil, "nothing ticked after the election ended")
        await bench.close()
    }

    @Test func cancellingTheServerStopsALeadingDriver() async throws {
        let bench = try await RolloutDriverTests.Bench.make()
        let (paces, pace) = AsyncStream<Pace>.makeStream()
        let (changes, leadership) = AsyncStream<Bool>.makeStream()
        let driver = Self.driver(bench, pace: pace)
        let running = Task { await driver.run(leadership: LeadershipChanges(changes)) }
        var observed = paces.makeAsyncIterator()
        leadership.yield(true)
        #expect(await observed.next() == .waiting)
        running.cancel()
        #expect(await observed.next() == .cancelled)
        await running.value
        await bench.close()
    }

    @Test func aSoleServerAlwaysLeads() async throws {
        let bench = try await RolloutDriverTests.Bench.make()
        let (paces, pace) = AsyncStream<Pace>.makeStream()
        let driver = Self.driver(bench, pace: pace)
        let running = Task { await driver.run(leadership: SoleServer()) }
        var observed = paces.makeAsyncIterator()
        #expect(await observed.next() == .waiting)
        running.cancel()
        #expect(await observed.next() == .cancelled)
        await running.value
        await bench.close()
    }
}

/// Leadership as the test says: a sequence of "leading now?" values, ending
/// when the election does (the real election is tested in GatehouseEtcdTests
/// and, with servers, in EtcdServerLiveTests).
struct LeadershipChanges<Changes: AsyncSequence & Sendable>: RolloutLeadership where Changes.Element == Bool {
    let changes: Changes

    init(_ changes: Changes) {
        self.changes = changes
    }

    func whileLeading(_ body: @escaping @Sendable () async -> Void) async {
        var running: Task<Void, Never>?
        do {
            for try await leading in self.changes {
                switch (leading, running) {
                case (true, nil):
                    running = Task { await body() }
                case (false, let task?):
                    // Waited for: a transition being committed finishes before another server's driver is told to go on.
                    task.cancel()
                    await task.value
                    running = nil
                case (true, .some), (false, nil):
                    break
                }
            }
        } catch {
            // An election that failed leads no more: stop as if leadership were lost.
        }
        running?.cancel()
        await running?.value
    }
}
