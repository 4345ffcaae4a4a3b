import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseSDK
import GatehouseServer
import NIOPosix
import Synchronization
import Testing

/// Rollouts against a live server with in-process SDK components: widening
/// to 100%, rolling back on unhealthy canaries, resuming after a restart,
/// and refusals over the wire.
@Suite(.serialized) struct RolloutLiveTests {
    /// A fast driver and heartbeats: bakes in these tests are fractions of a second.
    static func fast(_ configuration: inout GatehouseServerConfiguration) {
        configuration.heartbeatInterval = .milliseconds(200)
        configuration.rolloutTickInterval = .milliseconds(25)
    }

    /// A fleet of in-process SDK kubelets, `node-0` …, each with its own connection.
    final class Fleet: Sendable {
        let components: [GatehouseComponent]
        let runners: [Task<Void, any Error>]

        /// - Parameter unhealthyWhenOn: instances that report unhealthy, blaming KubeletOnly, once it is on for them.
        init(_ fixture: ComponentFixture, port: Int, count: Int, unhealthyWhenOn: Set<String> = []) throws {
            let config = try fixture.config(for: "kubelet")
            var components: [GatehouseComponent] = []
            for index in 0..<count {
                let id = "node-\(index)"
                let sick = unhealthyWhenOn.contains(id)
                components.append(
                    GatehouseComponent(
                        configuration: .init(
                            endpoints: [Endpoint(host: "127.0.0.1", port: port)],
                            tls: .init(clientConfig: config),
                            identity: .init(component: "kubelet", instanceID: id, version: "1.31.0", labels: ["zone": index % 2 == 0 ? "a" : "b"]),
                            features: [KnownFeature("KubeletOnly", stage: .alpha, defaultEnabled: false)],
                            bootDeadline: .seconds(20),
                            backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(300)),
                            idleTimeout: .seconds(10),
                            connectTimeout: .seconds(10),
                            healthCheck: GatehouseComponent.HealthCheck(every: .milliseconds(20)) { snapshot in
                                sick && snapshot.isEnabled("KubeletOnly")
                                    ? .unhealthy("KubeletOnly breaks the pod sync loop", blaming: ["KubeletOnly"]) : .healthy()
                            },
                            healthRepeatInterval: .milliseconds(200)
                        )
                    )
                )
            }
            self.components = components
            self.runners = components.map { component in Task { try await component.run() } }
        }

        func waitForBoot() async throws {
            for component in self.components {
                guard case .live = await component.waitForBoot() else {
                    throw WaitTimeout(description: "\(component.configuration.identity.instanceID) did not boot live")
                }
            }
        }

        var enabled: Int { self.components.count { $0.isEnabled("KubeletOnly") } }

        func stop() async {
            for runner in self.runners { runner.cancel() }
            for runner in self.runners { _ = try? await runner.value }
        }
    }

    static func spec(_ name: String, steps: [(percent: Double, bakeMs: Int64, maxUnhealthy: UInt32)], graceMs: Int64 = 0) -> Gatehouse_V1_RolloutSpec {
        .with { spec in
            spec.name = name
            spec.target = .with { $0.feature = "KubeletOnly" }
            spec.enabled = true
            spec.component = "kubelet"
            spec.disconnectGraceMs = graceMs
            spec.steps = steps.map { step in
                .with {
                    $0.percent = step.percent
                    $0.bakeMs = step.bakeMs
                    $0.maxUnhealthy = step.maxUnhealthy
                }
            }
        }
    }

    static func start(_ client: GatehouseClient, _ spec: Gatehouse_V1_RolloutSpec) async throws -> Gatehouse_V1_StartRolloutResponse {
        try await client.startRollout(.with { $0.spec = spec; $0.reason = "canary KubeletOnly" })
    }

    static func waitForPhase(_ client: GatehouseClient, _ name: String, _ phase: Gatehouse_V1_RolloutPhase, timeout: Duration = .seconds(60)) async throws -> Gatehouse_V1_GetRolloutResponse {
        var last: Gatehouse_V1_GetRolloutResponse?
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let got = try await client.getRollout(named: name)
            if got.rollout.phase == phase { return got }
            last = got
            try await Task.sleep(for: .milliseconds(20))
        }
        throw WaitTimeout(description: "rollout \(name) never reached \(phase); last: \(last.map { "\($0.rollout.phase) step \($0.rollout.step) \($0.rollout.message)" } ?? "-")")
    }

    /// The transitions the audit trail recorded for the feature, oldest first.
    static func history(_ client: GatehouseClient) async throws -> [Gatehouse_V1_AuditEntry] {
        let response: Gatehouse_V1_HistoryResponse = try await client.connection.unary(
            "/gatehouse.v1.Features/History", Gatehouse_V1_HistoryRequest.with { $0.feature = "KubeletOnly"; $0.limit = 100 })
        return response.entries
    }

    @Test func aHundredInstancesWidenStepByStepToAllOfThem() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Its own event loops: a hundred TLS clients and their server share none with other suites.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, group: group, configure: Self.fast)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let fleet = try Fleet(fixture, port: running.listening.address.port!, count: 100)
        try await fleet.waitForBoot()
        #expect(fleet.enabled == 0)

        let started = try await Self.start(fixture.admin, Self.spec("r-widen", steps: [(10, 300, 0), (50, 300, 0), (100, 0, 0)]))
        #expect(started.rollout.phase == .running && started.rollout.step == 0 && started.rollout.threshold == 0.1)
        #expect(started.rollout.stepRevision == started.revision, "the start is the revision canaries must ack")

        let done = try await Self.waitForPhase(fixture.admin, "r-widen", .completed)
        #expect(done.rollout.step == 2 && done.selected == 100 && done.canaries == 100)
        try await SubscriptionTests.eventually("every instance has it on", timeout: .seconds(30)) { fleet.enabled == 100 }

        // One revision per transition: start, two steps, completion; reasons say what happened.
        let entries = try await Self.history(fixture.admin).filter { $0.method == "rollout-driver" || $0.method.hasSuffix("Rollouts/Start") }
        #expect(entries.count == 3 + 1)
        let reasons = entries.map(\.reason)
        #expect(reasons.contains { $0.hasPrefix("rollout r-widen: step 2/3 (50%) after") && $0.contains("canaries healthy") })
        #expect(reasons.contains { $0.hasPrefix("rollout r-widen completed") })

        await fleet.stop()
        await fixture.admin.close()
        try await running.stop()
        try await group.shutdownGracefully()
    }

    @Test func unhealthyCanariesAtTheSecondStepRollItBackForEveryInstance() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, group: group, configure: Self.fast)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        // The instances that join at the second step (bucket in [0.1, 0.5)) fall sick once they have the feature.
        let ids = (0..<100).map { "node-\($0)" }
        let sick = Set(ids.filter { (0.1..<0.5).contains(Rollout.bucket(rollout: "r-sick", instanceID: $0)) })
        #expect(sick.count > 1)
        let fleet = try Fleet(fixture, port: running.listening.address.port!, count: 100, unhealthyWhenOn: sick)
        try await fleet.waitForBoot()

        _ = try await Self.start(fixture.admin, Self.spec("r-sick", steps: [(10, 200, 0), (50, 60_000, 1), (100, 0, 0)]))
        let back = try await Self.waitForPhase(fixture.admin, "r-sick", .rolledBack)
        #expect(back.rollout.step == 1, "rolled back at the second step")
        #expect(back.rollout.message.contains("canaries unhealthy"), "\(back.rollout.message)")
        #expect(sick.contains { back.rollout.message.contains($0) }, "the message names the sick canaries: \(back.rollout.message)")
        try await SubscriptionTests.eventually("every instance has it off again", timeout: .seconds(30)) { fleet.enabled == 0 }
        let reasons = try await Self.history(fixture.admin).map(\.reason)
        #expect(reasons.contains { $0.hasPrefix("rollout r-sick rolled back: ") })

        await fleet.stop()
        await fixture.admin.close()
        try await running.stop()
        try await group.shutdownGracefully()
    }

    @Test func aRestartMidStepResumesAtTheSameStepWithTheRemainingBake() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.fast)
        let port = running.listening.address.port!
        var fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let fleet = try Fleet(fixture, port: port, count: 10)
        try await fleet.waitForBoot()

        _ = try await Self.start(fixture.admin, Self.spec("r-restart", steps: [(20, 100, 0), (60, 20_000, 0), (100, 0, 0)], graceMs: 30_000))
        let second = try await SubscriptionTests.eventuallyValue("the second step", timeout: .seconds(30)) {
            let got = try await fixture.admin.getRollout(named: "r-restart")
            return got.rollout.step == 1 ? got : nil
        }
        let deadline = second.rollout.bakeDeadlineUnixMs
        #expect(deadline == second.rollout.stepStartedUnixMs + 20_000)

        // 8 s of the 20 s bake pass before the restart: wall time is the point here, so it is
        // waited for. The 12 s left are room for a slow restart on a loaded machine (6 s were not).
        try await Task.sleep(until: ContinuousClock.now + .seconds(8))
        await fixture.admin.close()
        try await running.stop()
        running = try await GatehouseServerTests.Running.start(dataDirectory: directory, port: port, configure: Self.fast)
        fixture = try await ComponentFixture.start(running, directory: directory)
        let resumed = try await fixture.admin.getRollout(named: "r-restart")
        #expect(resumed.rollout.phase == .running && resumed.rollout.step == 1, "the same step")
        #expect(resumed.rollout.bakeDeadlineUnixMs == deadline, "the same deadline: only the remaining bake is left")
        #expect(resumed.rollout.stepRevision == second.rollout.stepRevision)

        let done = try await Self.waitForPhase(fixture.admin, "r-restart", .completed)
        #expect(done.rollout.step == 2)
        let widened = try #require(try await Self.history(fixture.admin).first { $0.reason.hasPrefix("rollout r-restart: step 3/3") })
        #expect(widened.timeUnixMs >= deadline, "it did not widen before its bake ended")
        // A fresh bake after the restart would end 8 s after the deadline at the earliest.
        #expect(widened.timeUnixMs < deadline + 7_900, "it did not bake the whole step again")
        try await SubscriptionTests.eventually("every instance has it on", timeout: .seconds(30)) { fleet.enabled == 10 }

        await fleet.stop()
        await fixture.admin.close()
        try await running.stop()
    }

    /// Pause, resume, promote and abort steer it as asked; what the phase does not
    /// allow, and what a spec cannot be, is refused over the wire with its reason.
    @Test func operatorsSteerItAndRefusalsCarryTheirReason() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.fast)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let fleet = try Fleet(fixture, port: running.listening.address.port!, count: 10)
        try await fleet.waitForBoot()
        let admin = fixture.admin
        let refusal = RequestLimitsLiveTests.refusal

        // Specs the wire cannot hold.
        var noTarget = Self.spec("r-bad", steps: [(10, 0, 0)])
        noTarget.clearTarget()
        let missing = await refusal { _ = try await Self.start(admin, noTarget) }
        #expect(missing?.code == .invalidArgument && missing?.reason == "INVALID_FIELD", "\(String(describing: missing))")
        var noSize = Self.spec("r-bad", steps: [(10, 0, 0)])
        noSize.steps[0].size = nil
        let sizeless = await refusal { _ = try await Self.start(admin, noSize) }
        #expect(sizeless?.code == .invalidArgument && sizeless?.reason == "INVALID_FIELD")
        let negative = await refusal { _ = try await Self.start(admin, Self.spec("r-bad", steps: [(10, -1, 0)])) }
        #expect(negative?.code == .invalidArgument && negative?.reason == "INVALID_FIELD")
        let unknown = await refusal { _ = try await admin.getRollout(named: "r-none") }
        #expect(unknown?.code == .notFound && unknown?.reason == "ROLLOUT_NOT_FOUND")
        let steerUnknown = await refusal { _ = try await admin.steerRollout(.pause, named: "r-none", reason: "x") }
        #expect(steerUnknown?.code == .notFound && steerUnknown?.reason == "ROLLOUT_NOT_FOUND")

        // A dry run commits nothing.
        let dry = try await admin.startRollout(.with { $0.spec = Self.spec("r-ops", steps: [(50, 60_000, 0), (100, 0, 0)]); $0.dryRun = true })
        #expect(dry.rollout.phase == .running && dry.rollout.threshold == 0.5)
        #expect(try await admin.listRollouts(.init()).rollouts.isEmpty)

        let started = try await Self.start(admin, Self.spec("r-ops", steps: [(50, 60_000, 0), (100, 0, 0)]))
        #expect(started.rollout.spec.name == "r-ops" && started.rollout.actor == "admin")
        let resumeRunning = await refusal { _ = try await admin.steerRollout(.resume, named: "r-ops", reason: "x") }
        #expect(resumeRunning?.code == .failedPrecondition && resumeRunning?.reason == "ROLLOUT_STATE", "\(String(describing: resumeRunning))")

        let paused = try await admin.steerRollout(.pause, named: "r-ops", reason: "investigating a latency bump")
        #expect(paused.rollout.phase == .paused && paused.rollout.message == "investigating a latency bump")
        #expect(paused.rollout.bakeRemainingMs > 50_000 && paused.rollout.bakeDeadlineUnixMs == 0)
        let resumed = try await admin.steerRollout(.resume, named: "r-ops", reason: "latency is fine")
        #expect(resumed.rollout.phase == .running && resumed.rollout.bakeDeadlineUnixMs > 0)

        // Get shows the step's canaries as the machine judges them.
        let status = try await SubscriptionTests.eventuallyValue("the canaries acked") {
            let got = try await admin.getRollout(named: "r-ops")
            return got.acked == got.canaries && got.canaries > 0 ? got : nil
        }
        #expect(status.selected == 10 && status.unhealthy == 0)
        #expect(status.canaryStatus.allSatisfy { $0.bucket < 0.5 && $0.healthy && $0.connected })
        #expect(status.canaryStatus.map(\.bucket) == status.canaryStatus.map(\.bucket).sorted())
        #expect(fleet.enabled == Int(status.canaries))

        let promoted = try await admin.steerRollout(.promote, named: "r-ops", reason: "ship it")
        #expect(promoted.rollout.phase == .completed && promoted.rollout.threshold == 1)
        try await SubscriptionTests.eventually("every instance has it on") { fleet.enabled == 10 }
        let promoteAgain = await refusal { _ = try await admin.steerRollout(.promote, named: "r-ops", reason: "x") }
        #expect(promoteAgain?.code == .failedPrecondition && promoteAgain?.reason == "ROLLOUT_STATE")

        let aborted = try await admin.steerRollout(.abort, named: "r-ops", reason: "roll it all back")
        #expect(aborted.rollout.phase == .aborted && aborted.rollout.message == "roll it all back")
        try await SubscriptionTests.eventually("every instance has it off") { fleet.enabled == 0 }
        let abortAgain = await refusal { _ = try await admin.steerRollout(.abort, named: "r-ops", reason: "x") }
        #expect(abortAgain?.code == .failedPrecondition && abortAgain?.reason == "ROLLOUT_STATE")

        // Listed newest first, filtered, paged.
        _ = try await Self.start(admin, Self.spec("", steps: [(10, 60_000, 0)]))
        let all = try await admin.listRollouts(.with { $0.pageSize = 1 })
        #expect(all.rollouts.count == 2 && all.rollouts.first?.spec.name.hasPrefix("r") == true && all.rollouts.last?.spec.name == "r-ops")
        let active = try await admin.listRollouts(.with { $0.activeOnly = true })
        #expect(active.rollouts.count == 1 && active.rollouts.first?.phase == .running)
        #expect(try await admin.listRollouts(.with { $0.component = "kube-scheduler" }).rollouts.isEmpty)

        // A viewer reads but cannot steer; another component reads nothing of kubelet's.
        let viewer = try await GatehouseClient.connect(config: try fixture.config(for: "viewer-user", role: "viewer"))
        #expect(try await viewer.getRollout(named: "r-ops").rollout.phase == .aborted)
        let denied = await refusal { _ = try await viewer.steerRollout(.pause, named: "r-ops", reason: "x") }
        #expect(denied?.code == .permissionDenied)
        let scheduler = try await GatehouseClient.connect(config: try fixture.config(for: "kube-scheduler"))
        let hidden = await refusal { _ = try await scheduler.getRollout(named: "r-ops") }
        #expect(hidden?.code == .notFound)
        #expect(try await scheduler.listRollouts(.init()).rollouts.isEmpty)

        await viewer.close()
        await scheduler.close()
        await fleet.stop()
        await admin.close()
        try await running.stop()
    }

    /// The start rules (Core's applier) reach the caller with their reason, and a
    /// Set that would mask a running rollout is refused until it ends.
    @Test func startRefusalsAndMaskingSetsCarryTheirReason() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.fast)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let admin = fixture.admin
        let refusal = RequestLimitsLiveTests.refusal

        let tooBig = await refusal { _ = try await Self.start(admin, Self.spec("r-big", steps: [(150, 0, 0)])) }
        #expect(tooBig?.code == .invalidArgument && tooBig?.reason == "INVALID_ROLLOUT", "\(String(describing: tooBig))")
        var unknownFeature = Self.spec("r-nope", steps: [(10, 0, 0)])
        unknownFeature.target.feature = "Nope"
        let unknown = await refusal { _ = try await Self.start(admin, unknownFeature) }
        #expect(unknown?.code == .notFound && unknown?.reason == "UNKNOWN_FEATURE", "\(String(describing: unknown))")

        // An override of the target on the component masks it: clear it first.
        try await fixture.set("KubeletOnly", false, component: "kubelet")
        let masked = await refusal { _ = try await Self.start(admin, Self.spec("r-one", steps: [(10, 60_000, 0)])) }
        #expect(masked?.code == .failedPrecondition && masked?.reason == "ROLLOUT_MASKED", "\(String(describing: masked))")
        let _: Gatehouse_V1_SetResponse = try await admin.connection.unary(
            "/gatehouse.v1.Features/Set",
            Gatehouse_V1_SetRequest.with {
                $0.reason = "unmask"
                $0.changes = [.with { $0.feature = "KubeletOnly"; $0.remove = true; $0.scope = .with { $0.component = .with { $0.component = "kubelet" } } }]
            }
        )

        _ = try await Self.start(admin, Self.spec("r-one", steps: [(10, 60_000, 0)]))
        let taken = await refusal { _ = try await Self.start(admin, Self.spec("r-one", steps: [(20, 60_000, 0)])) }
        #expect(taken?.code == .alreadyExists && taken?.reason == "ROLLOUT_EXISTS", "\(String(describing: taken))")
        let conflict = await refusal { _ = try await Self.start(admin, Self.spec("r-two", steps: [(10, 60_000, 0)])) }
        #expect(conflict?.code == .failedPrecondition && conflict?.reason == "ROLLOUT_CONFLICT", "\(String(describing: conflict))")
        let maskingSet = await refusal { try await fixture.set("KubeletOnly", true, component: "kubelet", instance: "node-1") }
        #expect(maskingSet?.code == .failedPrecondition && maskingSet?.reason == "ROLLOUT_MASKED", "\(String(describing: maskingSet))")

        // Once it ends, the override may be written, and it masks the next rollout in turn.
        _ = try await admin.steerRollout(.abort, named: "r-one", reason: "done")
        try await fixture.set("KubeletOnly", true, component: "kubelet", instance: "node-1")
        let byInstance = await refusal { _ = try await Self.start(admin, Self.spec("r-two", steps: [(10, 60_000, 0)])) }
        #expect(byInstance?.code == .failedPrecondition && byInstance?.reason == "ROLLOUT_MASKED", "\(String(describing: byInstance))")

        await admin.close()
        try await running.stop()
    }
}

extension SubscriptionTests {
    /// Polls until `value` returns non-nil.
    static func eventuallyValue<T>(_ what: String, timeout: Duration = .seconds(10), _ value: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let found = try await value() { return found }
            guard ContinuousClock.now < deadline else { throw WaitTimeout(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
