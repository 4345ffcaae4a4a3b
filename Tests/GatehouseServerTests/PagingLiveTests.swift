import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseStore
import GatehouseTLS
import Testing

@testable import GatehouseServer

/// Listings larger than one frame, through pages, against the real server.
@Suite(.serialized) struct PagingLiveTests {
    /// `count` features named `prefix00000…`, as catalog YAML (each import stays well inside one request frame).
    static func catalog(_ range: Range<Int>, prefix: String = "Paged", components: [String] = ["kubelet"]) -> String {
        var yaml = "features:\n"
        for index in range {
            yaml += "  - name: \(prefix)\(String(format: "%05d", index))\n    stage: alpha\n    default_enabled: false\n"
            yaml += "    components: [\(components.joined(separator: ", "))]\n"
        }
        return yaml + "apis: []\n"
    }

    static func importFeatures(_ count: Int, into fixture: ComponentFixture, chunk: Int = 5_000) async throws {
        for start in stride(from: 0, to: count, by: chunk) {
            let _: Gatehouse_V1_ImportCatalogResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Features/ImportCatalog",
                Gatehouse_V1_ImportCatalogRequest.with { $0.yaml = Self.catalog(start..<min(start + chunk, count)); $0.reason = "paging test" },
                timeout: .seconds(120)
            )
        }
    }

    /// Writes `count` features straight into a new data directory's store, in one batch.
    ///
    /// Through ImportCatalog this takes minutes in a debug build (each definition
    /// rebuilds the catalog's dependents), which is not what this suite tests.
    static func seed(_ count: Int, into directory: String) async throws {
        let store = try SQLiteGateStore<GateState>(path: "\(directory)/gatehouse.db") { try GateRecords.state(from: $0) }
        let definitions = (0..<count).map {
            FeatureDefinition(name: "Paged\(String(format: "%05d", $0))", components: ["kubelet"], stage: .alpha, defaultEnabled: false)
        }
        _ = try await store.submit { _, revision in
            let features = definitions.map { Revisioned($0, revision: revision) }
            let state = GateState(revision: revision, features: features, apis: [], featureOverrides: [], apiOverrides: [])
            let values = try features.map { try GateRecords.encode(.feature($0)) }
            let records = zip(features, values).map { StoreRecord.put(kind: "feature", key: $0.value.name, value: $1) }
            // The audit entry GateService would write: every definition in `after`, every feature a subject.
            var after = Array("{".utf8)
            for (feature, value) in zip(features, values) {
                if after.count > 1 { after.append(UInt8(ascii: ",")) }
                after += Array("\"feature/\(feature.value.name)\":".utf8) + value
            }
            after.append(UInt8(ascii: "}"))
            let audit = AuditEntry(
                timeUnixMilliseconds: 1_000,
                actor: "fixture",
                method: "/gatehouse.v1.Features/ImportCatalog",
                reason: "\(count) features",
                before: Array("{}".utf8),
                after: after,
                subjects: features.map { "feature:\($0.value.name)" }
            )
            return .commit(state, records: records, audit: audit)
        }
        await store.close()
    }

    /// 50,000 features: `features list`, `explain` and History go through pages where one response could not carry them.
    @Test func fiftyThousandFeaturesComeThroughPages() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let count = 50_000
        try await Self.seed(count, into: directory)
        // Loading 50,000 definitions takes a few seconds in a debug build.
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, startTimeout: .seconds(120))
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let names = (0..<count).map { "Paged\(String(format: "%05d", $0))" }

        // An old client, sending no page fields, gets the first page and a token it may ignore.
        let first: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/List",
            Gatehouse_V1_ListFeaturesRequest()
        )
        #expect(first.features.count == 500, "the server's default page size")
        #expect(!first.nextPageToken.isEmpty)

        let listed = try await fixture.admin.listFeatures(Gatehouse_V1_ListFeaturesRequest())
        #expect(listed.features.map(\.name) == names, "every feature once, in name order")
        #expect(listed.nextPageToken.isEmpty)
        let whole = try listed.serializedBytes() as [UInt8]
        #expect(whole.count > 1_048_576, "the listing is larger than one frame (\(whole.count) octets)")

        let explained = try await fixture.admin.explain(.with { $0.component = "kubelet"; $0.skipApis = true })
        #expect(explained.entries.map(\.feature.name) == names)

        // 600 overrides on one feature: its Get comes in pages too.
        for index in 0..<600 {
            try await fixture.set("Paged00000", index % 2 == 0, component: "kubelet", instance: "node-\(String(format: "%03d", index))")
        }
        let get = try await fixture.admin.getFeature(named: "Paged00000")
        #expect(get.overrides.count == 600)
        #expect(Set(get.overrides.map(\.scope.instance.instanceID)).count == 600)
        let history = try await fixture.admin.history(Gatehouse_V1_HistoryRequest(), maximumEntries: nil)
        #expect(history.entries.map(\.revision) == Array(1...601), "the seeding batch and the 600 toggles")
        #expect(history.entries.first?.truncated == true, "the 50,000-feature batch is too large for one frame and comes cut down")
        try await running.stop()
    }

    /// Pages that stop at the caller's frame: a client announcing 16 KiB gets every instance, in order.
    @Test func instancesAndHistoryPageToASmallFrame() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let small = try await GatehouseClient.connect(config: fixture.adminConfig, maxFrameSize: 16_384)

        var expected: [String] = []
        for component in ["kube-apiserver", "kubelet"] {
            let client = try await GatehouseClient.connect(config: try fixture.config(for: component))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<300 {
                    let id = "node-\(String(format: "%04d", index))"
                    expected.append("\(component)/\(id)")
                    group.addTask {
                        let _: Gatehouse_V1_RegisterResponse = try await client.connection.unary(
                            "/gatehouse.v1.Components/Register",
                            Gatehouse_V1_RegisterRequest.with {
                                $0.component = component
                                $0.instanceID = id
                                $0.version = "1.31.0"
                                $0.labels = ["zone": String(repeating: "z", count: 100)]
                            }
                        )
                    }
                    if index % 50 == 49 { try await group.waitForAll() }
                }
            }
            await client.close()
        }
        let firstPage: Gatehouse_V1_ListComponentsResponse = try await small.connection.unary(
            "/gatehouse.v1.Components/List",
            Gatehouse_V1_ListComponentsRequest()
        )
        #expect(firstPage.instances.count < 300, "the page stopped at the 16 KiB frame, not at the page size")
        #expect(try (firstPage.serializedBytes() as [UInt8]).count <= 16_384)
        let listed = try await small.listComponents(Gatehouse_V1_ListComponentsRequest())
        #expect(listed.instances.map { "\($0.component)/\($0.instanceID)" } == expected)

        // 600 toggles, then the whole history through 16 KiB pages, both ways.
        for round in 0..<600 {
            try await fixture.set("Everywhere", round % 2 == 0, component: "kubelet")
        }
        let forward = try await small.history(.with { $0.limit = 0 }, maximumEntries: nil)
        let revisions = forward.entries.map(\.revision)
        #expect(revisions.count >= 600)
        #expect(revisions == revisions.sorted() && Set(revisions).count == revisions.count, "no gap, no repeat")
        #expect(!forward.more && forward.nextPageToken.isEmpty)
        let backward = try await small.history(.with { $0.newestFirst = true; $0.component = "kubelet" }, maximumEntries: nil)
        #expect(backward.entries.count == 601, "the 600 toggles and the batch that recorded kubelet's build")
        #expect(backward.entries.map(\.revision) == backward.entries.map(\.revision).sorted(by: >))
        let some = try await small.history(.with { $0.limit = 7 }, maximumEntries: 20)
        #expect(some.entries.count == 20 && some.more)

        await small.close()
        try await running.stop()
    }

    @Test func aTamperedOrMisusedTokenIsInvalidArgument() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        try await Self.importFeatures(30, into: fixture)
        let page: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/List",
            Gatehouse_V1_ListFeaturesRequest.with { $0.pageSize = 10 }
        )
        #expect(page.features.count == 10)
        var tampered = Array(page.nextPageToken)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == "A" ? "B" : "A"
        let attempts: [(String, Gatehouse_V1_ListFeaturesRequest)] = [
            ("edited", .with { $0.pageToken = String(tampered); $0.pageSize = 10 }),
            ("other filters", .with { $0.pageToken = page.nextPageToken; $0.namePrefix = "Paged0001" }),
            ("not a token", .with { $0.pageToken = "hello" }),
        ]
        for (what, request) in attempts {
            do {
                let _: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary("/gatehouse.v1.Features/List", request)
                Issue.record("a token \(what) was accepted")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument, "\(what): \(error)")
                #expect(error.message.contains("page_token"))
            }
        }
        do {
            let _: Gatehouse_V1_HistoryResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Features/History",
                Gatehouse_V1_HistoryRequest.with { $0.pageToken = page.nextPageToken }
            )
            Issue.record("a Features/List token was accepted by History")
        } catch let error as RPCError {
            #expect(error.code == .invalidArgument)
        }
        // The untouched token goes on, also with another page size.
        let next: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/List",
            Gatehouse_V1_ListFeaturesRequest.with { $0.pageToken = page.nextPageToken; $0.pageSize = 100 }
        )
        #expect(next.features.first?.name == "Paged00010")
        #expect(next.nextPageToken.isEmpty)
        try await running.stop()
    }

    /// A listing whose later pages are asked for after a change still lists the state of its first page.
    @Test func laterPagesComeFromTheFirstPagesState() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        try await Self.importFeatures(20, into: fixture)
        let first: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/List",
            Gatehouse_V1_ListFeaturesRequest.with { $0.pageSize = 10 }
        )
        let _: Gatehouse_V1_ImportCatalogResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/ImportCatalog",
            Gatehouse_V1_ImportCatalogRequest.with { $0.yaml = Self.catalog(0..<1, prefix: "PagedZ") }
        )
        let second: Gatehouse_V1_ListFeaturesResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/List",
            Gatehouse_V1_ListFeaturesRequest.with { $0.pageSize = 10; $0.pageToken = first.nextPageToken }
        )
        #expect(second.revision == first.revision)
        #expect(second.features.map(\.name) == (10..<20).map { "Paged\(String(format: "%05d", $0))" })
        #expect(second.nextPageToken.isEmpty, "PagedZ00000, defined after the first page, is not in this listing")
        try await running.stop()
    }

    /// Apis/List, Apis/Get and an instance's Explain page the same way, in their documented order.
    @Test func apisAndExplainPageInKeyOrder() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let groups = (0..<23).map { "g\(String(format: "%02d", $0)).example.io" }
        var yaml = Self.catalog(0..<17) .replacingOccurrences(of: "apis: []\n", with: "apis:\n")
        for group in groups { yaml += "  - api: \"\(group)/v1beta1\"\n    stage: beta\n    components: [kubelet]\n" }
        let _: Gatehouse_V1_ImportCatalogResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/ImportCatalog",
            Gatehouse_V1_ImportCatalogRequest.with { $0.yaml = yaml }
        )
        for component in ["kubelet", "kube-apiserver", "kube-scheduler"] {
            let _: Gatehouse_V1_SetResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Features/Set",
                Gatehouse_V1_SetRequest.with {
                    // Components the small catalog does not name, and none has registered.
                    $0.allowUnknownComponent = true
                    $0.changes = [.with {
                        $0.api = .with { $0.stage = .beta }
                        $0.enabled = true
                        $0.scope = .with { $0.component = .with { $0.component = component } }
                    }]
                }
            )
        }
        let apis = try await fixture.admin.allPages(
            "/gatehouse.v1.Apis/List",
            Gatehouse_V1_ListApisRequest.with { $0.pageSize = 4 },
            as: Gatehouse_V1_ListApisResponse.self
        )
        #expect(apis.apis.map(\.group) == groups)
        let get = try await fixture.admin.allPages(
            "/gatehouse.v1.Apis/Get",
            Gatehouse_V1_GetApiRequest.with { $0.api = .with { $0.group = groups[0]; $0.version = "v1beta1" }; $0.pageSize = 1 },
            as: Gatehouse_V1_GetApiResponse.self
        )
        #expect(get.overrides.map(\.scope.component.component) == ["kube-apiserver", "kube-scheduler", "kubelet"])
        let explained = try await fixture.admin.allPages(
            "/gatehouse.v1.Features/Explain",
            Gatehouse_V1_ExplainRequest.with { $0.component = "kubelet"; $0.instanceID = "node-1"; $0.pageSize = 6 },
            as: Gatehouse_V1_ExplainResponse.self
        )
        let features = explained.entries.compactMap { if case .feature(let feature) = $0.target { feature.name } else { nil } }
        let explainedAPIs = explained.entries.compactMap { if case .api(let api) = $0.target { api.api.group } else { nil } }
        #expect(features == (0..<17).map { "Paged\(String(format: "%05d", $0))" })
        #expect(explainedAPIs == groups)
        #expect(explained.entries.prefix(17).allSatisfy { if case .feature = $0.target { true } else { false } }, "features first")
        try await running.stop()
    }

    @Test func infoTellsTheHeartbeatIntervalAndPageSizes() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { $0.heartbeatInterval = .milliseconds(2_500) }
        let client = try await GatehouseClient.connect(config: try ClientConfigLoader.load(path: running.listening.adminConfig!))
        let info = try await client.info()
        #expect(info.limits.heartbeatIntervalMs == 2_500)
        #expect(info.limits.defaultPageSize == 500)
        #expect(info.limits.maxPageSize == 5_000)
        await client.close()
        try await running.stop()
    }
}
