import Foundation
import GatehouseProto
import Logging
import Synchronization
import Testing
@testable import GatehouseSDK

/// The component's state handling without a server: pushes applied directly, time moved by hand.
@Suite("Component")
struct ComponentTests {
    struct Refused: UpdateRejection {
        var reason: String { "UNSUPPORTED_MODE" }
        var entries: [String] { ["AlphaThing"] }
        var message: String { "mode slow is not built in" }
    }

    struct Failure: Error {}

    static func configuration(
        endpoints: [Endpoint] = [Endpoint(host: "127.0.0.1", port: 1)],
        lastKnownGood: String? = nil,
        clock: ManualClock = ManualClock(),
        handler: (@Sendable (StateUpdate) async throws -> Void)? = nil
    ) -> GatehouseComponent.Configuration {
        var configuration = GatehouseComponent.Configuration(
            // Nothing listens on port 1, and the certificates do not exist: every attempt fails at once.
            endpoints: endpoints,
            tls: .init(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem", trustRootsPath: "/nonexistent/ca.pem"),
            identity: .init(component: "kubelet", instanceID: "node-1", version: "1.32.0"),
            features: [
                KnownFeature("AlphaThing", stage: .alpha, defaultEnabled: false),
                KnownFeature("BetaThing", stage: .beta, defaultEnabled: true),
                KnownFeature("Compiled", stage: .alpha, defaultEnabled: true, defaultParameters: ["n": .int(1)]),
            ],
            apis: [KnownAPI(APIRef(group: "batch", version: "v1beta1"), stage: .beta)],
            lastKnownGoodPath: lastKnownGood,
            bootDeadline: .seconds(5),
            offlineTTL: .seconds(300),
            logger: Logger(label: "test"),
            handler: handler
        )
        configuration.clock = clock
        return configuration
    }

    @Test("before boot, reads are the compiled defaults, stale")
    func compiledDefaults() {
        let component = GatehouseComponent(configuration: Self.configuration())
        #expect(component.isStale)
        #expect(component.isEnabled("Compiled"))
        #expect(!component.isEnabled("AlphaThing"))
        #expect(component.isEnabled("BetaThing"))
        #expect(!component.isServed("batch/v1beta1"), "beta APIs default off")
        #expect(component.parameter("n", of: "Compiled") == .int(1))
        #expect(component.bootOutcome == nil)
    }

    @Test("a snapshot then deltas are applied, acked, saved, and boot goes live")
    func applyAndAck() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let seen = Mutex<[UInt64]>([])
        let component = GatehouseComponent(configuration: Self.configuration(lastKnownGood: "\(directory)/lkg.json") { update in
            seen.withLock { $0.append(update.revision) }
        })
        #expect(await component.apply(.snapshot(sampleSnapshot(revision: 10))) == .applied(revision: 10))
        #expect(await component.waitForBoot() == .live(revision: 10))
        #expect(!component.isStale)
        #expect(component.isEnabled("AlphaThing"))
        #expect(component.isServed("batch/v1beta1"))
        #expect(component.parameter("mode", of: "AlphaThing") == .enumValue("fast"))

        let delta = Gatehouse_V1_Delta.with {
            $0.baseRevision = 10
            $0.revision = 11
            $0.features = [wireFeature("AlphaThing", false, .alpha)]
        }
        #expect(await component.apply(.delta(delta)) == .applied(revision: 11))
        #expect(!component.isEnabled("AlphaThing"))
        #expect(component.snapshot.revision == 11)
        #expect(seen.withLock { $0 } == [10, 11])

        let saved = BootFallback.load(path: "\(directory)/lkg.json", component: "kubelet", hints: .init(), logger: Logger(label: "test"))
        guard case .lastKnownGood(let revision, _) = saved.source else {
            Issue.record("no last-known-good file: \(saved.source)")
            return
        }
        #expect(revision == 11)
        #expect(saved.cache?.features["AlphaThing"]?.enabled == false)
    }

    @Test("a delta that does not follow on asks for a resync and changes nothing")
    func resync() async throws {
        let component = GatehouseComponent(configuration: Self.configuration())
        let early = Gatehouse_V1_Delta.with { $0.baseRevision = 0; $0.revision = 1 }
        guard case .resync = await component.apply(.delta(early)) else {
            Issue.record("a delta before any snapshot must resync")
            return
        }
        _ = await component.apply(.snapshot(sampleSnapshot(revision: 10)))
        let gap = Gatehouse_V1_Delta.with {
            $0.baseRevision = 12
            $0.revision = 13
            $0.features = [wireFeature("AlphaThing", false, .alpha)]
        }
        guard case .resync = await component.apply(.delta(gap)) else {
            Issue.record("a gap must resync")
            return
        }
        #expect(component.isEnabled("AlphaThing"))
        #expect(component.snapshot.revision == 10)
    }

    @Test("a handler that throws gets a NACK and the previous state is kept")
    func nack() async throws {
        let refuse = Mutex<(any Error)?>(nil)
        let component = GatehouseComponent(configuration: Self.configuration { _ in
            if let error = refuse.withLock({ $0 }) { throw error }
        })
        _ = await component.apply(.snapshot(sampleSnapshot(revision: 10)))
        let delta = Gatehouse_V1_Delta.with {
            $0.baseRevision = 10
            $0.revision = 11
            $0.features = [wireFeature("AlphaThing", true, .alpha, params: ["mode": .with { $0.enumValue = "slow" }])]
        }

        refuse.withLock { $0 = Failure() }
        guard case .rejected(11, let generic) = await component.apply(.delta(delta)) else {
            Issue.record("expected a NACK")
            return
        }
        #expect(generic.reason == "HANDLER_FAILED")
        #expect(component.parameter("mode", of: "AlphaThing") == .enumValue("fast"))
        #expect(component.snapshot.revision == 10)

        refuse.withLock { $0 = Refused() }
        guard case .rejected(11, let own) = await component.apply(.delta(delta)) else {
            Issue.record("expected a NACK")
            return
        }
        #expect(own.reason == "UNSUPPORTED_MODE")
        #expect(own.entries == ["AlphaThing"])
        #expect(own.message == "mode slow is not built in")

        refuse.withLock { $0 = nil }
        #expect(await component.apply(.delta(delta)) == .applied(revision: 11))
        #expect(component.parameter("mode", of: "AlphaThing") == .enumValue("slow"))
    }

    @Test("an invalid update is NACKed as INVALID_UPDATE without calling the handler")
    func invalid() async throws {
        let calls = Mutex(0)
        let component = GatehouseComponent(configuration: Self.configuration { _ in calls.withLock { $0 += 1 } })
        let snapshot = Gatehouse_V1_Snapshot.with {
            $0.revision = 5
            $0.features = [wireFeature("Broken", true, .beta, params: ["p": Gatehouse_V1_ParameterValue()])]
        }
        guard case .rejected(5, let error) = await component.apply(.snapshot(snapshot)) else {
            Issue.record("expected a NACK")
            return
        }
        #expect(error.reason == "INVALID_UPDATE")
        #expect(error.entries == ["Broken"])
        #expect(calls.withLock { $0 } == 0)
    }

    @Test("with no server: boots stale from the last-known-good file, then fails alpha closed after the TTL")
    func offlineBoot() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/lkg.json"
        let saved = LastKnownGood(
            component: "kubelet", instanceID: "node-1", version: "1.31.0",
            savedAtUnixMilliseconds: 1_700_000_000_000, snapshot: sampleSnapshot(revision: 42)
        )
        try AtomicFile.write(try saved.encoded(), to: path)

        let clock = ManualClock()
        let sources = Mutex<[StateUpdate.Source]>([])
        // No endpoints: the server's return is played by `apply` below, with no connect loop racing it.
        let component = GatehouseComponent(configuration: Self.configuration(endpoints: [], lastKnownGood: path, clock: clock) { update in
            sources.withLock { $0.append(update.source) }
        })
        let running = Task { try await component.run() }
        defer { running.cancel() }
        var changes = component.changes.makeAsyncIterator()

        #expect(!component.isEnabled("AlphaThing"), "compiled defaults until the deadline")
        clock.advance(by: .seconds(5))
        let outcome = await component.waitForBoot()
        #expect(outcome == .stale(source: .lastKnownGood(revision: 42, savedAt: Date(timeIntervalSince1970: 1_700_000_000))))
        let boot = await changes.next()
        #expect(boot?.source == .boot(.lastKnownGood(revision: 42, savedAt: Date(timeIntervalSince1970: 1_700_000_000))))
        #expect(boot?.features.contains { $0.name == "AlphaThing" } == true)
        #expect(component.isStale)
        #expect(component.snapshot.origin == .lastKnownGood(savedAt: Date(timeIntervalSince1970: 1_700_000_000)))
        #expect(component.snapshot.revision == 42)
        #expect(component.isEnabled("AlphaThing"), "the file's state, within the TTL")
        #expect(component.isServed("example.io/v1alpha1"))

        clock.advance(by: .seconds(290))
        try await Task.sleep(for: .milliseconds(50))
        #expect(!component.snapshot.isFailingClosed, "not before the TTL")

        clock.advance(by: .seconds(5))  // 300 s since boot
        let closed = await changes.next()
        #expect(closed?.source == .offlinePolicy)
        #expect(closed?.features.map(\.name) == ["AlphaThing", "Compiled"])
        #expect(closed?.apis.map(\.api) == ["example.io/v1alpha1"])
        #expect(component.snapshot.isFailingClosed)
        #expect(!component.isEnabled("AlphaThing"))
        #expect(!component.isEnabled("Compiled"), "compiled-in alpha entries fail closed too")
        #expect(component.isEnabled("BetaThing"))
        #expect(component.isEnabled("GAThing"))
        #expect(!component.isServed("example.io/v1alpha1"))
        #expect(component.isServed("batch/v1beta1"))
        #expect(sources.withLock { $0 }.count == 2)

        // A server comes back: its snapshot is applied and the policy lifts.
        #expect(await component.apply(.snapshot(sampleSnapshot(revision: 50))) == .applied(revision: 50))
        #expect(!component.snapshot.isFailingClosed)
        #expect(!component.isStale)
        #expect(component.isEnabled("AlphaThing"))
        #expect(component.isServed("example.io/v1alpha1"))

        running.cancel()
        _ = try? await running.value
        #expect(await changes.next()?.source == .server)
        #expect(await changes.next() == nil, "changes finish when run() returns")
    }

    @Test("with no file and no server: boots stale on compiled defaults with the reason")
    func defaultsBoot() async throws {
        let clock = ManualClock()
        let component = GatehouseComponent(configuration: Self.configuration(clock: clock))
        let running = Task { try await component.run() }
        defer { running.cancel() }
        clock.advance(by: .seconds(5))
        let outcome = await component.waitForBoot()
        #expect(outcome == .stale(source: .compiledDefaults(reason: "no last-known-good file is configured")))
        #expect(component.snapshot.origin == .compiledDefaults)
        #expect(component.isEnabled("Compiled"))
    }
}
