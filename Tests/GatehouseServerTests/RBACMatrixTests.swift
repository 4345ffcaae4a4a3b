import Foundation
import GatehouseClient
import GatehouseServer
import GatehouseTLS
import NIOCore
import Testing

/// Each role × each method, through the real server with real certificates:
/// a call the role may make gets past authorization (whatever it then
/// answers); any other gets PERMISSION_DENIED.
@Suite(.serialized) struct RBACMatrixTests {
    enum Caller: String, CaseIterable, Sendable {
        case admin, `operator`, viewer, component, nobody
    }

    /// Method, a request that is valid enough to get past decoding, and who may call it.
    static let methods: [(path: String, request: ByteBuffer, allowed: Set<Caller>)] = {
        func encode(_ message: some SwiftProtobufMessage) -> ByteBuffer {
            try! ProtobufCoding.encode(message)
        }
        let everyone: Set<Caller> = [.admin, .operator, .viewer, .component]
        return [
            ("/gatehouse.v1.Server/Info", encode(Gatehouse_V1_InfoRequest()), everyone),
            ("/gatehouse.v1.Health/Check", encode(Gatehouse_V1_HealthCheckRequest()), everyone),
            ("/gatehouse.v1.Features/List", encode(Gatehouse_V1_ListFeaturesRequest()), everyone),
            ("/gatehouse.v1.Features/Get", encode(Gatehouse_V1_GetFeatureRequest.with { $0.name = "Nope" }), everyone),
            ("/gatehouse.v1.Features/Explain", encode(Gatehouse_V1_ExplainRequest.with { $0.component = "kubelet" }), everyone),
            ("/gatehouse.v1.Features/History", encode(Gatehouse_V1_HistoryRequest()), everyone),
            ("/gatehouse.v1.Apis/List", encode(Gatehouse_V1_ListApisRequest()), everyone),
            ("/gatehouse.v1.Apis/Get", encode(Gatehouse_V1_GetApiRequest.with { $0.api.version = "v1" }), everyone),
            ("/gatehouse.v1.Features/Set", encode(Gatehouse_V1_SetRequest()), [.admin, .operator]),
            ("/gatehouse.v1.Features/Define", encode(Gatehouse_V1_DefineFeatureRequest()), [.admin]),
            ("/gatehouse.v1.Features/ImportCatalog", encode(Gatehouse_V1_ImportCatalogRequest.with { $0.yaml = "features: []\napis: []\n" }), [.admin]),
            ("/gatehouse.v1.Apis/Define", encode(Gatehouse_V1_DefineApiRequest()), [.admin]),
            ("/gatehouse.v1.Apis/Activate", encode(Gatehouse_V1_ActivateApiRequest()), [.admin, .operator]),
            (
                "/gatehouse.v1.Components/Register",
                encode(Gatehouse_V1_RegisterRequest.with { $0.component = "kubelet"; $0.instanceID = "node-1"; $0.version = "1.31.0" }),
                [.admin, .component]
            ),
            ("/gatehouse.v1.Components/List", encode(Gatehouse_V1_ListComponentsRequest()), everyone),
            ("/gatehouse.v1.Components/Convergence", encode(Gatehouse_V1_ConvergenceRequest()), everyone),
            ("/gatehouse.v1.Rollouts/List", encode(Gatehouse_V1_ListRolloutsRequest()), everyone),
            ("/gatehouse.v1.Rollouts/Get", encode(Gatehouse_V1_GetRolloutRequest.with { $0.name = "r1" }), everyone),
            ("/gatehouse.v1.Rollouts/Start", encode(Gatehouse_V1_StartRolloutRequest()), [.admin, .operator]),
            ("/gatehouse.v1.Rollouts/Pause", encode(Gatehouse_V1_RolloutActionRequest.with { $0.name = "r1" }), [.admin, .operator]),
            ("/gatehouse.v1.Rollouts/Resume", encode(Gatehouse_V1_RolloutActionRequest.with { $0.name = "r1" }), [.admin, .operator]),
            ("/gatehouse.v1.Rollouts/Promote", encode(Gatehouse_V1_RolloutActionRequest.with { $0.name = "r1" }), [.admin, .operator]),
            ("/gatehouse.v1.Rollouts/Abort", encode(Gatehouse_V1_RolloutActionRequest.with { $0.name = "r1" }), [.admin, .operator]),
        ]
    }()

    @Test func everyRoleAgainstEveryMethod() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let pki = DevelopmentPKI(dataDirectory: directory)
        let ca = try CertificateAuthority(certificatePath: pki.caCertificate, privateKeyPath: pki.caKey)
        let base = try ClientConfigLoader.load(path: running.listening.adminConfig!)

        var checked = 0
        for caller in Caller.allCases {
            let name = caller == .component ? "kubelet" : "\(caller.rawValue)-user"
            let issued = try ca.issue(.client, subject: CertificateSubject(commonName: name, organizations: [caller.rawValue]))
            try issued.write(certificateTo: "\(directory)/\(name).crt", keyTo: "\(directory)/\(name).key")
            var config = base
            config.certificate = "\(directory)/\(name).crt"
            config.key = "\(directory)/\(name).key"
            let client = try await GatehouseClient.connect(config: config)
            for method in Self.methods {
                var code = RPCStatus.Code.ok
                do {
                    _ = try await client.connection.unary(method.path, request: method.request, timeout: .seconds(10))
                } catch let error as RPCError {
                    code = error.code
                }
                if method.allowed.contains(caller) {
                    #expect(code != .permissionDenied, "\(caller) was refused \(method.path)")
                } else {
                    #expect(code == .permissionDenied, "\(caller) got \(code) from \(method.path) instead of PERMISSION_DENIED")
                }
                checked += 1
            }
            await client.close()
        }
        #expect(checked == Caller.allCases.count * Self.methods.count)
        try await running.stop()
    }

    @Test func aComponentReadsOnlyItsOwnState() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let pki = DevelopmentPKI(dataDirectory: directory)
        let ca = try CertificateAuthority(certificatePath: pki.caCertificate, privateKeyPath: pki.caKey)
        let issued = try ca.issue(.client, subject: CertificateSubject(commonName: "kubelet", organizations: ["component"]))
        try issued.write(certificateTo: "\(directory)/kubelet.crt", keyTo: "\(directory)/kubelet.key")
        var config = try ClientConfigLoader.load(path: running.listening.adminConfig!)
        config.certificate = "\(directory)/kubelet.crt"
        config.key = "\(directory)/kubelet.key"
        let client = try await GatehouseClient.connect(config: config)
        let own: Gatehouse_V1_ExplainResponse = try await client.connection.unary(
            "/gatehouse.v1.Features/Explain",
            Gatehouse_V1_ExplainRequest.with { $0.component = "kubelet" }
        )
        #expect(own.revision == 0)
        do {
            let _: Gatehouse_V1_ExplainResponse = try await client.connection.unary(
                "/gatehouse.v1.Features/Explain",
                Gatehouse_V1_ExplainRequest.with { $0.component = "kube-apiserver" }
            )
            Issue.record("kubelet read kube-apiserver's state")
        } catch let error as RPCError {
            #expect(error.code == .permissionDenied)
        }
        await client.close()
        try await running.stop()
    }

    /// A component certificate reads the overrides that reach it (global, its component's, its
    /// instances') and its own history, through every page, and is refused another component's.
    @Test func aComponentReadsOnlyItsOwnOverridesAndHistory() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let _: Gatehouse_V1_ImportCatalogResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/ImportCatalog",
            Gatehouse_V1_ImportCatalogRequest.with {
                $0.yaml = """
                    features:
                      - {name: Shared, stage: alpha, default_enabled: false, components: [kubelet, kube-apiserver]}
                      - {name: ServerOnly, stage: alpha, default_enabled: false, components: [kube-apiserver]}
                    apis: []
                    """
            }
        )
        try await fixture.set("Shared", true)
        try await fixture.set("Shared", true, component: "kubelet")
        try await fixture.set("Shared", false, component: "kube-apiserver")
        try await fixture.set("Shared", true, component: "kubelet", instance: "n1")
        try await fixture.set("Shared", true, component: "kube-apiserver", instance: "a1")
        try await fixture.set("ServerOnly", true, component: "kube-apiserver")
        // One batch that touches both components: kubelet sees only its half.
        let _: Gatehouse_V1_SetResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/Set",
            Gatehouse_V1_SetRequest.with {
                $0.reason = "both"
                $0.changes = ["kubelet", "kube-apiserver"].map { component in
                    .with {
                        $0.feature = "Shared"
                        $0.enabled = false
                        $0.scope = .with { $0.instance = .with { $0.component = component; $0.instanceID = "both-1" } }
                    }
                }
            }
        )

        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let viewer = try await GatehouseClient.connect(config: try fixture.config(for: "watcher", role: "viewer"))
        func scopes(_ response: Gatehouse_V1_GetFeatureResponse) -> [String] {
            response.overrides.map { override in
                switch override.scope.scope {
                case .global, nil: "global"
                case .component(let scope): "component/\(scope.component)"
                case .instance(let scope): "instance/\(scope.component)/\(scope.instanceID)"
                }
            }
        }
        // Page size 1: every allowed override comes, one page each, and nothing else.
        let own = try await kubelet.allPages(
            "/gatehouse.v1.Features/Get",
            Gatehouse_V1_GetFeatureRequest.with { $0.name = "Shared"; $0.pageSize = 1 },
            as: Gatehouse_V1_GetFeatureResponse.self
        )
        #expect(scopes(own) == ["global", "component/kubelet", "instance/kubelet/both-1", "instance/kubelet/n1"])
        let all = try await viewer.getFeature(named: "Shared")
        #expect(scopes(all).count == 7, "a viewer sees every override: \(scopes(all))")

        // A viewer's page token does not hand its listing to a component: kubelet, going on from
        // the viewer's first page, still gets only what reaches it.
        let viewersFirst: Gatehouse_V1_GetFeatureResponse = try await viewer.connection.unary(
            "/gatehouse.v1.Features/Get",
            Gatehouse_V1_GetFeatureRequest.with { $0.name = "Shared"; $0.pageSize = 1 }
        )
        let borrowed = try await kubelet.allPages(
            "/gatehouse.v1.Features/Get",
            Gatehouse_V1_GetFeatureRequest.with { $0.name = "Shared"; $0.pageSize = 1; $0.pageToken = viewersFirst.nextPageToken },
            as: Gatehouse_V1_GetFeatureResponse.self
        )
        #expect(scopes(borrowed) == ["component/kubelet", "instance/kubelet/both-1", "instance/kubelet/n1"])

        let refused: [(String, () async throws -> Void)] = [
            ("Get of a feature that does not apply to it", { _ = try await kubelet.getFeature(named: "ServerOnly") }),
            ("History of another component", { _ = try await kubelet.history(.with { $0.component = "kube-apiserver" }) }),
            ("List of another component's features", { _ = try await kubelet.listFeatures(.with { $0.component = "kube-apiserver" }) }),
            ("Explain of another component", { _ = try await kubelet.explain(.with { $0.component = "kube-apiserver" }) }),
            ("Components/List of another component", { _ = try await kubelet.listComponents(.with { $0.component = "kube-apiserver" }) }),
        ]
        for (what, call) in refused {
            do {
                try await call()
                Issue.record("kubelet was allowed \(what)")
            } catch let error as RPCError {
                #expect(error.code == .permissionDenied, "\(what): \(error)")
            }
        }

        let listed = try await kubelet.listFeatures(Gatehouse_V1_ListFeaturesRequest())
        #expect(listed.features.map(\.name) == ["Shared"], "only the features that apply to kubelet")
        let history = try await kubelet.history(.with { $0.limit = 1 }, maximumEntries: nil)
        #expect(history.entries.count == 3, "its component override, its instance override, and its half of the shared batch")
        for entry in history.entries {
            #expect(!entry.subjects.contains("component:kube-apiserver"))
            #expect(!entry.afterJson.contains("kube-apiserver"), "r\(entry.revision) shows another component: \(entry.afterJson)")
        }
        #expect(history.entries.last?.afterJson.contains("kubelet/both-1") == true)
        let whole = try await viewer.history(.with { $0.component = "kube-apiserver" })
        #expect(whole.entries.last?.afterJson.contains("kube-apiserver/both-1") == true)

        await kubelet.close()
        await viewer.close()
        try await running.stop()
    }
}

typealias SwiftProtobufMessage = SwiftProtobuf.Message
import SwiftProtobuf
