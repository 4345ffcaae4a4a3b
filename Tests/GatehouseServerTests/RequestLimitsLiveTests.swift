import Foundation
import GatehouseClient
import GatehouseServer
import Testing

/// The per-request bounds through the real server on port 0: each refusal
/// with its status and `ErrorDetails.reason`, and every audit entry readable.
@Suite(.serialized) struct RequestLimitsLiveTests {
    /// The status code and `ErrorDetails.reason` a call failed with; nil when it succeeded.
    static func refusal(_ body: () async throws -> Void) async -> (code: RPCStatus.Code, reason: String)? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            let details = try? Gatehouse_V1_ErrorDetails(serializedBytes: error.status.details)
            return (error.code, details?.reason ?? "")
        } catch {
            Issue.record("not an RPCError: \(error)")
            return nil
        }
    }

    static func register(_ client: GatehouseClient, _ request: Gatehouse_V1_RegisterRequest) async throws {
        let _: Gatehouse_V1_RegisterResponse = try await client.connection.unary("/gatehouse.v1.Components/Register", request)
    }

    static func registration(_ component: String, _ instance: String, version: String = "1.31.0", labels: [String: String] = [:]) -> Gatehouse_V1_RegisterRequest {
        .with {
            $0.component = component
            $0.instanceID = instance
            $0.version = version
            $0.labels = labels
        }
    }

    @Test func registrationsAreBoundedAndAComponentIsFullAtItsInstanceLimit() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { $0.requestLimits.maxInstancesPerComponent = 2 }
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))

        let empty = await Self.refusal { try await Self.register(kubelet, Self.registration("kubelet", "node-1", version: "")) }
        #expect(empty?.code == .invalidArgument && empty?.reason == "MISSING_VERSION", "\(String(describing: empty))")
        let bad = await Self.refusal { try await Self.register(kubelet, Self.registration("kubelet", "node-1", version: "1.x")) }
        #expect(bad?.code == .invalidArgument && bad?.reason == "INVALID_VERSION", "\(String(describing: bad))")
        let labels = Dictionary(uniqueKeysWithValues: (0..<33).map { ("label-\($0)", "value") })
        let many = await Self.refusal { try await Self.register(kubelet, Self.registration("kubelet", "node-1", labels: labels)) }
        #expect(many?.code == .invalidArgument && many?.reason == "TOO_MANY", "\(String(describing: many))")
        let long = await Self.refusal {
            try await Self.register(kubelet, Self.registration("kubelet", "node-1", labels: ["zone": String(repeating: "z", count: 896 * 1024)]))
        }
        #expect(long?.code == .invalidArgument && long?.reason == "TOO_LONG", "\(String(describing: long))")

        // A subscription records its instance: a megabyte of version is refused there too.
        let hugeVersion = try await RecordingSubscriber.subscribe(
            on: kubelet.connection, component: "kubelet", instanceID: "node-1", version: "1.0.0-" + String(repeating: "a", count: 1_000_000))
        try await SubscriptionTests.eventually("the subscription is refused") { hugeVersion.end != nil }
        #expect(((hugeVersion.end ?? nil) as? RPCError)?.code == .invalidArgument)

        // Two instances fit; the third is refused, as a registration and as a subscription.
        try await Self.register(kubelet, Self.registration("kubelet", "node-1", labels: ["zone": "eu-1a"]))
        try await Self.register(kubelet, Self.registration("kubelet", "node-2"))
        let full = await Self.refusal { try await Self.register(kubelet, Self.registration("kubelet", "node-3")) }
        #expect(full?.code == .resourceExhausted && full?.reason == "TOO_MANY_INSTANCES", "\(String(describing: full))")
        let subscriber = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-3")
        try await SubscriptionTests.eventually("the subscription is refused") { subscriber.end != nil }
        #expect(((subscriber.end ?? nil) as? RPCError)?.code == .resourceExhausted)
        // The known ones register again, and the refusals kept nothing.
        try await Self.register(kubelet, Self.registration("kubelet", "node-2", version: "1.31.1"))
        let listed: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest.with { $0.component = "kubelet" })
        #expect(listed.instances.map(\.instanceID) == ["node-1", "node-2"])
        #expect(listed.instances.map(\.version) == ["1.31.0", "1.31.1"])

        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }

    /// PROTOCOL.md and components.proto: a component registers only as itself, an admin as any component.
    @Test func anAdminMayRegisterAnyComponentAComponentOnlyItself() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let operatorClient = try await GatehouseClient.connect(config: try fixture.config(for: "ops", role: "operator"))

        try await Self.register(fixture.admin, Self.registration("kube-scheduler", "tool-1"))
        try await Self.register(kubelet, Self.registration("kubelet", "node-1"))
        let impostor = await Self.refusal { try await Self.register(kubelet, Self.registration("kube-scheduler", "s-1")) }
        #expect(impostor?.code == .permissionDenied)
        let byOperator = await Self.refusal { try await Self.register(operatorClient, Self.registration("kubelet", "node-2")) }
        #expect(byOperator?.code == .permissionDenied)
        let listed: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
        #expect(listed.instances.map { "\($0.component)/\($0.instanceID)" } == ["kube-scheduler/tool-1", "kubelet/node-1"])

        await operatorClient.close()
        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }

    /// A reason past its bound and a Set past its changes are refused; the largest Set
    /// the bounds allow commits, and History returns its entry.
    @Test func writesAreBoundedAndTheirLargestEntryIsReadable() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let feature = "F" + String(repeating: "x", count: 252)
        let _: Gatehouse_V1_DefineFeatureResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/Define",
            Gatehouse_V1_DefineFeatureRequest.with {
                $0.feature = .with { $0.name = feature; $0.stage = .beta }
                $0.reason = "test"
            }
        )
        func set(_ count: Int, enabled: Bool = true, reason: String) -> Gatehouse_V1_SetRequest {
            .with { request in
                request.reason = reason
                // The longest component name, which no catalog names.
                request.allowUnknownComponent = true
                request.changes = (0..<count).map { index in
                    .with {
                        $0.feature = feature
                        $0.enabled = enabled
                        $0.scope = .with {
                            $0.instance = .with {
                                $0.component = String(repeating: "\"", count: 253)
                                $0.instanceID = String(format: "%03d", index) + String(repeating: "\\", count: 250)
                            }
                        }
                    }
                }
            }
        }
        func send(_ request: Gatehouse_V1_SetRequest) async throws -> Gatehouse_V1_SetResponse {
            try await fixture.admin.connection.unary("/gatehouse.v1.Features/Set", request)
        }
        let maximum = RequestLimits().maxChangesPerSet

        let reason = await Self.refusal { _ = try await send(set(1, reason: String(repeating: "r", count: 1_025))) }
        #expect(reason?.code == .invalidArgument && reason?.reason == "REASON_TOO_LONG", "\(String(describing: reason))")
        let megabyte = await Self.refusal { _ = try await send(set(1, reason: String(repeating: "r", count: 1_000_000))) }
        #expect(megabyte?.code == .invalidArgument && megabyte?.reason == "REASON_TOO_LONG", "\(String(describing: megabyte))")
        let tooMany = await Self.refusal { _ = try await send(set(maximum + 1, reason: "too many")) }
        #expect(tooMany?.code == .invalidArgument && tooMany?.reason == "TOO_MANY_CHANGES", "\(String(describing: tooMany))")

        // The largest: every name at its longest and escaped, the longest reason, set then replaced.
        let longest = String(repeating: "\"", count: 1_024)
        _ = try await send(set(maximum, reason: longest))
        let replaced = try await send(set(maximum, enabled: false, reason: longest))
        let history: Gatehouse_V1_HistoryResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/History", Gatehouse_V1_HistoryRequest.with { $0.limit = 1; $0.newestFirst = true })
        let entry = try #require(history.entries.first)
        #expect(entry.revision == replaced.revision)
        #expect(entry.changes.count == maximum)
        #expect(entry.reason == longest)
        #expect(try (entry.serializedBytes() as [UInt8]).count > 256 * 1024, "the entry is as large as the bounds make it")

        await fixture.admin.close()
        try await running.stop()
    }

    /// An entry larger than a History response can carry is refused before it is stored:
    /// here a catalog import, whose changes no count bounds, on a server with 16 KiB frames.
    @Test func aBatchWhoseAuditEntryWouldNotFitAResponseIsRefused() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { $0.limits.maxFrameSize = 16_384 }
        let fixture = try await ComponentFixture.start(running, directory: directory)
        func catalog(_ features: Int) -> String {
            "features:\n" + (0..<features).map { "  - name: Feature\($0)\n    stage: alpha\n    default_enabled: false\n    description: \(String(repeating: "d", count: 150))\n" }.joined()
        }
        func importing(_ yaml: String) async throws {
            let _: Gatehouse_V1_ImportCatalogResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Features/ImportCatalog", Gatehouse_V1_ImportCatalogRequest.with { $0.yaml = yaml })
        }
        let large = catalog(60)
        #expect(large.utf8.count < 15_000, "the request itself fits the server's frames")
        let refused = await Self.refusal { try await importing(large) }
        #expect(refused?.code == .invalidArgument && refused?.reason == "AUDIT_ENTRY_TOO_LARGE", "\(String(describing: refused))")
        // A registration is a batch too: a build recorded again with other features needs
        // before and after in one entry, too large here; the instance is then not recorded.
        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        func registering(_ instance: String, prefix: String) async throws {
            let _: Gatehouse_V1_RegisterResponse = try await kubelet.connection.unary(
                "/gatehouse.v1.Components/Register",
                Gatehouse_V1_RegisterRequest.with {
                    $0.component = "kubelet"
                    $0.instanceID = instance
                    $0.version = "1.31.0"
                    $0.features = (0..<70).map { index in .with { $0.name = prefix + String(format: "%03d", index) + String(repeating: "x", count: 190) } }
                }
            )
        }
        try await registering("node-1", prefix: "A")
        let rebuilt = await Self.refusal { try await registering("node-2", prefix: "B") }
        #expect(rebuilt?.code == .invalidArgument && rebuilt?.reason == "AUDIT_ENTRY_TOO_LARGE", "\(String(describing: rebuilt))")
        let instances: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
        #expect(instances.instances.map(\.instanceID) == ["node-1"], "the refused registration kept nothing")
        await kubelet.close()

        try await importing(catalog(20))
        let listed: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/List", Gatehouse_V1_ListFeaturesRequest())
        #expect(listed.features.count == 20, "the refused import left nothing behind")
        let history: Gatehouse_V1_HistoryResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/History", Gatehouse_V1_HistoryRequest.with { $0.limit = 1; $0.newestFirst = true })
        #expect(try (history.serializedBytes() as [UInt8]).count <= 16_384)
        #expect(history.entries.first?.changes.count == 20)

        await fixture.admin.close()
        try await running.stop()
    }
}
