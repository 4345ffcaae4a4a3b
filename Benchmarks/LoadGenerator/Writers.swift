import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// Connections for concurrent writers: one mTLS connection each, as separate clients would have.
enum Writers {
    static func connect(count: Int, configPath: String) async throws -> [GatehouseClient] {
        let config = try ClientConfigLoader.load(path: configPath)
        var clients: [GatehouseClient] = []
        for _ in 0..<count {
            clients.append(try await GatehouseClient.connect(config: config, defaultTimeout: .seconds(30)))
        }
        return clients
    }

    /// Makes sure the features the writers toggle exist (idempotent).
    static func defineFeatures(_ names: [String], using client: GatehouseClient) async throws {
        for name in names {
            let feature = FeatureDefinition(name: name, stage: .alpha, defaultEnabled: false, description: "load generator feature")
            let request = Gatehouse_V1_DefineFeatureRequest.with {
                $0.feature = feature.wire(revision: .zero)
                $0.reason = "load generator setup"
            }
            let _: Gatehouse_V1_DefineFeatureResponse = try await client.connection.unary("/gatehouse.v1.Features/Define", request)
        }
    }

    /// Sets `count` instance overrides of `feature` on component `bench-preload`, 500 per batch.
    static func preloadOverrides(_ count: Int, feature: String, using client: GatehouseClient) async throws {
        guard count > 0 else { return }
        for start in stride(from: 0, to: count, by: 500) {
            let batch = ChangeBatch(
                changes: (start..<min(start + 500, count)).map {
                    .setFeature(feature, scope: .instance(component: "bench-preload", id: "p\($0)"), enabled: true)
                },
                reason: "load generator preload",
                actor: "",
                // No catalog names the benchmark's components and none registers.
                allowsUnknownComponents: true
            )
            let _: Gatehouse_V1_SetResponse = try await client.connection.unary("/gatehouse.v1.Features/Set", batch.wireSetRequest)
        }
        print("preloaded \(count) instance overrides")
    }

    /// One Set request enabling or disabling `features` at an instance scope, as one batch.
    static func setRequest(features: [String], component: String, instance: String, enabled: Bool, reason: String) -> Gatehouse_V1_SetRequest {
        let batch = ChangeBatch(
            changes: features.map { .setFeature($0, scope: .instance(component: component, id: instance), enabled: enabled) },
            reason: reason,
            actor: "",
            // No catalog names the benchmark's components and none registers.
            allowsUnknownComponents: true
        )
        return batch.wireSetRequest
    }
}
