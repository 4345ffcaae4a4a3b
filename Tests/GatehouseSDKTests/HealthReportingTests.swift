import Foundation
import GatehouseProto
import GatehouseRPC
import GatehouseTLS
import GatehouseTestUtils
import Logging
import Synchronization
import Testing
@testable import GatehouseSDK

/// What the component sends about the application's health: the schedule as a value, and the
/// messages a recording Subscribe endpoint receives from a running component.
@Suite("Health reporting")
struct HealthReportingTests {
    // MARK: - The schedule

    @Test("the first reading is due at once; an unchanged healthy one never again")
    func healthyIsSentOnce() {
        var schedule = HealthSchedule(repeatInterval: .seconds(10))
        #expect(schedule.due(nil, now: .zero) == nil, "nothing to send before the first reading")
        let ok = HealthReading(.healthy())
        #expect(schedule.due(ok, now: .zero) == ok)
        #expect(schedule.nextRepeat == nil)
        #expect(schedule.due(ok, now: .seconds(3600)) == nil)
    }

    @Test("an unhealthy reading repeats every interval and a change is due at once")
    func unhealthyRepeats() {
        var schedule = HealthSchedule(repeatInterval: .seconds(10))
        let bad = HealthReading(.unhealthy("boom", blaming: ["FastPath"]))
        #expect(schedule.due(bad, now: .seconds(1)) == bad)
        #expect(schedule.nextRepeat == .seconds(11))
        #expect(schedule.due(bad, now: .seconds(10)) == nil)
        #expect(schedule.due(bad, now: .seconds(11)) == bad)
        #expect(schedule.nextRepeat == .seconds(21))
        let worse = HealthReading(.unhealthy("boom", blaming: ["FastPath", "batch/v1beta1"]))
        #expect(schedule.due(worse, now: .seconds(12)) == worse, "other blamed entries are a change")
        let ok = HealthReading(.healthy())
        #expect(schedule.due(ok, now: .seconds(13)) == ok)
        #expect(schedule.nextRepeat == nil)
    }

    @Test("the board wakes listeners only when the status changes, and keeps the latest time")
    func boardWakesOnChange() {
        var board = HealthBoard()
        let (_, listener) = AsyncStream<Void>.makeStream()
        _ = board.listen(listener)
        #expect(board.record(HealthReading(.healthy(), at: Date(timeIntervalSince1970: 1))).count == 1)
        #expect(board.record(HealthReading(.healthy(), at: Date(timeIntervalSince1970: 2))).isEmpty)
        #expect(board.latest?.checkedAtUnixMilliseconds == 2000)
        #expect(board.record(HealthReading(.unhealthy("x"), at: Date(timeIntervalSince1970: 3))).count == 1)
    }

    // MARK: - On the stream

    /// Register and Subscribe on a real RPC server that records the client messages of each subscription.
    final class Recorder: Sendable {
        /// Client messages after the start, one list per subscription in order.
        let subscriptions = Mutex<[[Gatehouse_V1_SubscribeRequest]]>([])
        /// Subscription number (1-based) that the server ends after its first client message.
        let endAfterFirstMessage: Int?
        /// Pushed on the first subscription once its first client message arrived.
        let pushAfterFirstMessage: Gatehouse_V1_Snapshot?

        init(endAfterFirstMessage: Int? = nil, pushAfterFirstMessage: Gatehouse_V1_Snapshot? = nil) {
            self.endAfterFirstMessage = endAfterFirstMessage
            self.pushAfterFirstMessage = pushAfterFirstMessage
        }

        var health: [[Gatehouse_V1_HealthReport]] {
            self.subscriptions.withLock { all in
                all.map { messages in messages.compactMap { if case .health(let report) = $0.message { report } else { nil } } }
            }
        }

        var methods: [RPCMethod] {
            [
                .unary("/gatehouse.v1.Components/Register") { (_: Gatehouse_V1_RegisterRequest, _) in
                    Gatehouse_V1_RegisterResponse.with { $0.revision = 1 }
                },
                .serverStreaming(
                    "/gatehouse.v1.Components/Subscribe",
                    clientMessages: Gatehouse_V1_SubscribeRequest.self
                ) { (request: Gatehouse_V1_SubscribeRequest, messages, writer: RPCMessageWriter<Gatehouse_V1_SubscribeResponse>, _) in
                    guard case .start = request.message else { throw RPCError(.invalidArgument, "no start") }
                    let number = self.subscriptions.withLock { all in
                        all.append([])
                        return all.count
                    }
                    var first = true
                    for try await message in messages {
                        self.subscriptions.withLock { $0[number - 1].append(message) }
                        if number == self.endAfterFirstMessage { return }
                        if first, number == 1, let push = self.pushAfterFirstMessage {
                            try await writer.write(.with { $0.snapshot = push })
                        }
                        first = false
                    }
                },
            ]
        }
    }

    struct Harness {
        let pki: TestPKI
        let server: RPCServer
        let recorder: Recorder
        let clock: ManualClock
        let component: GatehouseComponent
        let runner: Task<Void, any Error>

        static func start(recorder: Recorder, healthCheck: GatehouseComponent.HealthCheck? = nil, before: (GatehouseComponent) -> Void = { _ in }) async throws -> Harness {
            let pki = try TestPKI()
            let server = RPCServer(
                configuration: .init(host: "127.0.0.1", port: 0, tls: try TLSContext.server(pki.serverConfiguration), router: RPCRouter(recorder.methods)),
                logger: Logger(label: "test.server")
            )
            let port = try await server.start().port!
            let clock = ManualClock()
            var configuration = GatehouseComponent.Configuration(
                endpoints: [Endpoint(host: "127.0.0.1", port: port)],
                tls: .init(
                    certificateChainPath: pki.admin.certificatePath,
                    privateKeyPath: pki.admin.keyPath,
                    trustRootsPath: pki.admin.trustRootsPath,
                    serverName: "localhost"
                ),
                identity: .init(component: "kubelet", instanceID: "node-1", version: "1.32.0"),
                features: [KnownFeature("FastPath", stage: .alpha, defaultEnabled: false)],
                bootDeadline: .seconds(3600),
                backoff: Backoff(initial: .seconds(5), maximum: .seconds(5), jitter: .none),
                idleTimeout: .seconds(36000),
                healthCheck: healthCheck,
                healthRepeatInterval: .seconds(10),
                logger: Logger(label: "test")
            )
            configuration.clock = clock
            let component = GatehouseComponent(configuration: configuration)
            before(component)
            let runner = Task { try await component.run() }
            return Harness(pki: pki, server: server, recorder: recorder, clock: clock, component: component, runner: runner)
        }

        init(pki: TestPKI, server: RPCServer, recorder: Recorder, clock: ManualClock, component: GatehouseComponent, runner: Task<Void, any Error>) {
            self.pki = pki
            self.server = server
            self.recorder = recorder
            self.clock = clock
            self.component = component
            self.runner = runner
        }

        /// Waits until subscription `number` (1-based) has received `count` health reports.
        func reports(_ count: Int, on number: Int = 1) async -> [Gatehouse_V1_HealthReport] {
            // Generous: the whole suite runs in parallel on two cores, and a slow first handshake must not fail a test about health.
            _ = await eventually(timeout: .seconds(30)) { (self.recorder.health.dropFirst(number - 1).first?.count ?? 0) >= count }
            return self.recorder.health.dropFirst(number - 1).first ?? []
        }

        func stop() async {
            self.runner.cancel()
            _ = try? await self.runner.value
            await self.server.close()
            self.pki.remove()
        }
    }

    static func summary(_ reports: [Gatehouse_V1_HealthReport]) -> [String] {
        reports.map { "\($0.healthy ? "healthy" : "unhealthy") \($0.message) \($0.entries)" }
    }

    @Test("reported on subscribing, on each change, and every repeat interval while unhealthy only")
    func reportsOnTheStream() async throws {
        let harness = try await Harness.start(recorder: Recorder()) { component in
            component.reportHealth(.unhealthy("boom", blaming: ["FastPath"]))
        }
        #expect(Self.summary(await harness.reports(1)) == ["unhealthy boom [\"FastPath\"]"], "sent once the subscription opens")
        #expect(harness.recorder.subscriptions.withLock { $0.first?.count } == 1, "the health report is the only client message")
        #expect((harness.recorder.health.first?.first?.checkedAtUnixMs ?? 0) > 1_700_000_000_000)

        harness.clock.advance(by: .seconds(5))
        harness.component.reportHealth(.unhealthy("boom", blaming: ["FastPath"]))  // unchanged: not sent
        harness.clock.advance(by: .seconds(5))
        #expect(await harness.reports(2).count == 2, "repeated after the interval while unhealthy")

        harness.component.reportHealth(.healthy("recovered"))
        #expect(await harness.reports(3).count == 3)
        harness.clock.advance(by: .seconds(60))  // healthy: no repeats
        harness.component.reportHealth(.unhealthy("again"))
        #expect(
            Self.summary(await harness.reports(4)) == [
                "unhealthy boom [\"FastPath\"]",
                "unhealthy boom [\"FastPath\"]",
                "healthy recovered []",
                "unhealthy again []",
            ]
        )
        #expect(harness.component.health == .unhealthy("again"))
        await harness.stop()
    }

    @Test("a polled check feeds the reports, and a new subscription gets the latest one first")
    func pollsAndResendsAfterResubscribing() async throws {
        let verdict = Mutex(HealthStatus.healthy("warming up"))
        let check = GatehouseComponent.HealthCheck(every: .seconds(1)) { snapshot in
            #expect(!snapshot.isEnabled("FastPath"))
            return verdict.withLock { $0 }
        }
        let harness = try await Harness.start(recorder: Recorder(endAfterFirstMessage: 1), healthCheck: check)
        #expect(Self.summary(await harness.reports(1, on: 1)) == ["healthy warming up []"])

        // The server ended the first subscription; the next one, after the 5 s backoff, starts with the
        // latest report, which the check found at 1 s.
        verdict.withLock { $0 = .unhealthy("disk full") }
        harness.clock.advance(by: .seconds(1))
        #expect(await eventually { harness.component.health == .unhealthy("disk full") })
        #expect(harness.recorder.health.count == 1, "no reconnect before the backoff")
        _ = await eventually {
            harness.clock.advance(by: .milliseconds(500))
            return harness.recorder.health.count >= 2 && !harness.recorder.health[1].isEmpty
        }
        let second = await harness.reports(1, on: 2)
        #expect(Self.summary(Array(second.prefix(1))) == ["unhealthy disk full []"])
        await harness.stop()
    }

    @Test("a server change applied runs the check at once, not an interval later")
    func checksRightAfterAChange() async throws {
        let push = Gatehouse_V1_Snapshot.with {
            $0.revision = 7
            $0.features = [wireFeature("FastPath", true, .alpha)]
        }
        let check = GatehouseComponent.HealthCheck(every: .seconds(3600)) { snapshot in
            snapshot.isEnabled("FastPath") ? .unhealthy("FastPath breaks me", blaming: ["FastPath"]) : .healthy()
        }
        let harness = try await Harness.start(recorder: Recorder(pushAfterFirstMessage: push), healthCheck: check)
        // The clock never moves: the second check can only be the one the applied snapshot asked for.
        #expect(Self.summary(await harness.reports(2)) == ["healthy  []", "unhealthy FastPath breaks me [\"FastPath\"]"])
        #expect(harness.recorder.subscriptions.withLock { $0.first ?? [] }.contains { $0.ack.revision == 7 }, "the snapshot was acked")
        await harness.stop()
    }

    @Test("a check that throws reports unhealthy with the error")
    func throwingCheck() async throws {
        struct ProbeFailed: Error, CustomStringConvertible { var description: String { "probe timed out" } }
        let harness = try await Harness.start(
            recorder: Recorder(),
            healthCheck: .init(every: .seconds(1)) { _ in throw ProbeFailed() }
        )
        #expect(Self.summary(await harness.reports(1)) == ["unhealthy health check failed: probe timed out []"])
        await harness.stop()
    }
}
