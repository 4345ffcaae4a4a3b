import Foundation
import GatehouseCore
import GatehouseStore
import Logging
import Synchronization
import Testing

@testable import GatehouseServer

/// The driver on a manual clock, over a real store and registry, ticked by
/// hand: what it observes in the registry, what it commits, and the reasons
/// it records.
@Suite struct RolloutDriverTests {
    /// A store with the catalog, a registry and a driver sharing one manual clock.
    final class Bench: Sendable {
        let directory: String
        let store: SQLiteGateStore<GateState>
        let gates: GateService
        let registry: InstanceRegistry
        let driver: RolloutDriver
        let time: Time

        static func make(startedAt: Int64 = 1_000_000, logger: Logger = Logger(label: "test")) async throws -> Bench {
            let directory = try GatehouseServerTests.temporaryDirectory()
            let store = try SQLiteGateStore<GateState>(path: "\(directory)/gatehouse.db") { try GateRecords.state(from: $0) }
            try await GateRecordsTests.apply(.importing(GateRecordsTests.catalog, actor: "admin"), to: store)
            let time = Time(startedAt)
            let registry = InstanceRegistry(now: { time.now })
            let gates = GateService(store: store, authorizer: Authorizer(policy: AccessPolicy(bindings: [])), now: { time.now })
            let driver = RolloutDriver(gates: gates, registry: registry, serverStartedAt: UnixMilliseconds(startedAt), logger: logger)
            return Bench(directory: directory, store: store, gates: gates, registry: registry, driver: driver, time: time)
        }

        init(directory: String, store: SQLiteGateStore<GateState>, gates: GateService, registry: InstanceRegistry, driver: RolloutDriver, time: Time) {
            self.directory = directory
            self.store = store
            self.gates = gates
            self.registry = registry
            self.driver = driver
            self.time = time
        }

        func advance(by milliseconds: Int64) {
            self.time.advance(by: milliseconds)
        }

        /// Kubelets node-0 … node-(count-1), subscribed at version 1.31.0.
        func connect(_ count: Int) throws {
            for index in 0..<count {
                try self.registry.subscribed(InstanceRef(component: "kubelet", instanceID: "node-\(index)", version: Version(1, 31, 0)), identity: "kubelet")
            }
        }

        func key(_ id: String) -> InstanceRegistry.Key { .init(component: "kubelet", instanceID: id) }

        func start(_ rollout: Rollout) async throws -> Rollout {
            let committed = try await self.gates.commit(method: "test", logger: Logger(label: "test")) { state, time in
                self.driver.startBatch(rollout, reason: "test", state: state, at: time)
            }
            return try #require(RolloutService.stored(committed))
        }

        /// Every running instance acks the current revision.
        func ackAll(_ count: Int) {
            for index in 0..<count { self.registry.acked(self.key("node-\(index)"), revision: self.gates.state.revision) }
        }

        func close() async {
            await self.store.close()
            try? FileManager.default.removeItem(atPath: self.directory)
        }
    }

    /// The manual clock, in milliseconds since the epoch.
    final class Time: Sendable {
        private let value: Mutex<Int64>
        init(_ start: Int64) { self.value = Mutex(start) }
        var now: Int64 { self.value.withLock { $0 } }
        func advance(by milliseconds: Int64) { self.value.withLock { $0 += milliseconds } }
    }

    static func rollout(_ steps: [RolloutStep], grace: Int64 = 10_000) -> Rollout {
        Rollout(name: "r7", target: .feature("Child"), enabled: true, component: "kubelet", steps: steps, disconnectGrace: grace, actor: "alice")
    }

    @Test func itWidensOnlyOnceTheBakeIsOverAndRecordsWhy() async throws {
        let bench = try await Bench.make()
        defer { Task { await bench.close() } }
        try bench.connect(20)
        let started = try await bench.start(Self.rollout([RolloutStep(size: .percent(50), bake: 300_000), RolloutStep(size: .percent(100))]))
        #expect(started.step == 0 && started.threshold == 0.5)
        bench.ackAll(20)

        bench.advance(by: 299_999)
        #expect(try await bench.driver.advance("r7") == nil, "a millisecond of bake is left")
        bench.advance(by: 1)
        let widened = try #require(try await bench.driver.advance("r7"))
        let stored = try #require(RolloutService.stored(widened))
        #expect(stored.step == 1 && stored.threshold == 1)
        let canaries = (0..<20).count { Rollout.bucket(rollout: "r7", instanceID: "node-\($0)") < 0.5 }
        let entry = try #require(try await bench.store.history(AuditQuery(limit: 1)).first?.entry)
        #expect(entry.reason == "rollout r7: step 2/2 (100%) after 5m bake, \(canaries)/\(canaries) canaries healthy")
        #expect(entry.actor == "gatehouse" && entry.method == "rollout-driver")

        bench.ackAll(20)
        let last = try #require(try await bench.driver.advance("r7"))
        let completed = try #require(RolloutService.stored(last))
        #expect(completed.phase == .completed)
        #expect(try await bench.driver.advance("r7") == nil, "a completed rollout is not ticked")
    }

    @Test func aNackedStepRollsBackWithEscapedWordsFromTheInstance() async throws {
        let bench = try await Bench.make()
        defer { Task { await bench.close() } }
        try bench.connect(10)
        _ = try await bench.start(Self.rollout([RolloutStep(size: .percent(100), bake: 60_000)]))
        bench.ackAll(9)
        // One canary cannot apply the step, another blames the feature in words with a newline and an escape.
        let revision = bench.gates.state.revision
        bench.registry.nacked(bench.key("node-9"), .init(revision: revision, reason: "UNKNOWN_FEATURE", message: "", entries: ["Child"], timeUnixMilliseconds: 0))
        bench.registry.reportedHealth(bench.key("node-3"), .init(healthy: false, message: "sync loop\nstuck \u{1B}[2J", entries: ["Child"], checkedAtUnixMilliseconds: 0))

        let committed = try #require(try await bench.driver.advance("r7"), "the control characters do not get the rollback refused")
        let stored = try #require(RolloutService.stored(committed))
        #expect(stored.phase == .rolledBack)
        #expect(stored.message.contains("node-9 NACK r\(revision.rawValue) UNKNOWN_FEATURE"), "\(stored.message)")
        #expect(stored.message.contains("node-3 reported unhealthy: sync loop\\nstuck \\u{1B}[2J"), "\(stored.message)")
        #expect(stored.message.hasPrefix("2 of 10 canaries unhealthy"))
        let entry = try #require(try await bench.store.history(AuditQuery(limit: 1)).first?.entry)
        #expect(entry.reason == "rollout r7 rolled back: \(stored.message)")
    }

    /// A canary that goes away after the step began counts against it only past
    /// the grace, from when the registry saw it go; one gone since before the step is not counted.
    @Test func aDisconnectedCanaryCountsOnlyPastItsGrace() async throws {
        let bench = try await Bench.make()
        defer { Task { await bench.close() } }
        try bench.connect(4)
        bench.registry.unsubscribed(bench.key("node-0"))  // gone before the rollout starts
        bench.advance(by: 1_000)
        _ = try await bench.start(Self.rollout([RolloutStep(size: .percent(100), bake: 0), RolloutStep(size: .percent(100))], grace: 10_000))
        bench.ackAll(4)
        bench.advance(by: 5_000)
        bench.registry.unsubscribed(bench.key("node-1"))

        bench.advance(by: 10_000)
        #expect(try await bench.driver.advance("r7") == nil, "node-1 is still within its grace: it holds the step")
        let view = bench.driver.canaries(of: try #require(bench.gates.state.rollout("r7")), in: bench.gates.state)
        #expect(view.selected == 4 && view.statuses.count == 4)
        #expect(view.statuses.first { $0.verdict.instanceID == "node-0" }?.verdict.state == .ignored)
        #expect(view.statuses.first { $0.verdict.instanceID == "node-1" }?.connected == false)

        bench.advance(by: 1)
        let rolledBack = try #require(try await bench.driver.advance("r7"))
        let stored = try #require(RolloutService.stored(rolledBack))
        #expect(stored.phase == .rolledBack)
        #expect(stored.message.hasPrefix("1 of 3 canaries unhealthy: node-1 disconnected for 10s"), "\(stored.message)")
    }

    /// Keeps what is logged at info and above, with its level.
    final class Captured: Sendable {
        let events = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

        var logger: Logger {
            Logger(label: "test") { _ in Handler(captured: self) }
        }

        struct Handler: LogHandler {
            let captured: Captured
            var logLevel: Logger.Level = .info
            var metadata: Logger.Metadata = [:]
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { self.metadata[key] }
                set { self.metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
                self.captured.events.withLock { $0.append((event.level, event.message.description, merged)) }
            }
        }
    }

    /// Each transition is logged with the reason it was committed with; a
    /// transition that keeps failing is logged once, not on every tick.
    @Test func transitionsAreLoggedAndALastingFailureOnce() async throws {
        let captured = Captured()
        let bench = try await Bench.make(logger: captured.logger)
        defer { try? FileManager.default.removeItem(atPath: bench.directory) }
        try bench.connect(5)
        _ = try await bench.start(Self.rollout([RolloutStep(size: .percent(20)), RolloutStep(size: .percent(60)), RolloutStep(size: .percent(100))]))
        bench.ackAll(5)
        await bench.driver.tick()
        let transition = try #require(captured.events.withLock { $0.last })
        #expect(transition.level == .info && transition.message == "rollout transition")
        #expect(transition.metadata["reason"]?.description.hasPrefix("rollout r7: step 2/3 (60%) after 0s bake") == true)
        #expect(transition.metadata["step"]?.description == "2/3" && transition.metadata["phase"]?.description == "running")

        // The store goes away: every tick fails the same way, and says so once.
        bench.ackAll(5)
        await bench.store.close()
        for _ in 0..<3 { await bench.driver.tick() }
        let failures = captured.events.withLock { $0.filter { $0.message == "rollout transition failed" } }
        #expect(failures.count == 1 && failures.first?.level == .error)
    }
}
