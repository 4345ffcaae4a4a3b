import Foundation
import GatehouseCore
import GatehouseRPC
import Testing

@testable import GatehouseServer

/// Every metric family the server can emit is documented in README's
/// Operations table, so an operator never meets an unexplained name.
@Suite struct MetricsDocumentationTests {
    @Test func everyMetricTheServerEmitsIsInTheReadme() throws {
        let backend = MetricsBackend(enabled: true)
        _ = RPCServerMetrics(factory: backend.factory, methods: ["/gatehouse.v1.Features/Set"])
        let metrics = ServerMetrics(factory: backend.factory)
        metrics.nacked(component: "kubelet")
        var state = try ServerMetricsTests.state([])
        _ = try SubscriptionHubTests.commit(SubscriptionHubRolloutTests.catalog.map(Change.defineFeature), to: &state)
        metrics.committed(try SubscriptionHubTests.commit([.putRollout(SubscriptionHubRolloutTests.rollout(step: 0, threshold: 0.1))], to: &state))
        let sampled = state
        ScrapeSampler(factory: backend.factory, sources: .init(state: { sampled })).sample()

        let text = String(decoding: backend.exposition(), as: UTF8.self)
        let names = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) }
        #expect(names.count >= 15, "\(names)")
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("README.md"),
            encoding: .utf8
        )
        for name in names {
            let documented = readme.contains("| `\(name)")
            #expect(documented, "README's metrics table does not document \(name)")
        }
    }
}
