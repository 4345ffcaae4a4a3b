import Foundation
import Testing
@testable import GatehouseCore

@Suite("Encoding")
struct CodableTests {
    func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try JSONDecoder().decode(T.self, from: encoder.encode(value))
    }

    @Test func catalogRoundTrips() throws {
        #expect(try roundTrip(Fixtures.catalog) == Fixtures.catalog)
        #expect(try roundTrip(KubernetesCatalog.catalog) == KubernetesCatalog.catalog)
    }

    @Test func stateRoundTripsAndEncodesDeterministically() throws {
        let state = try Fixtures.apply([
            .setFeature("D", scope: .instance(component: "kubelet", id: "n1"), enabled: false, parameters: ["t": .durationMs(200), "s": .string("q")]),
            .setAPI(.resource(APIRef(group: "apps", version: "v1", resource: "deployments")), scope: .global, enabled: false),
        ], to: Fixtures.state)
        #expect(try roundTrip(state) == state)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try encoder.encode(state) == encoder.encode(GateState(
            revision: state.revision,
            features: state.features.values.reversed(),
            apis: Array(state.apis.values),
            featureOverrides: Array(state.featureOverrides.values),
            apiOverrides: Array(state.apiOverrides.values)
        )))
    }

    @Test func catalogUsesSnakeCaseKeysAndOptionalFields() throws {
        let json = """
        {"features": [{"name": "X", "stage": "Beta", "default_enabled": true, "lock_to_default": false,
                       "min_component_versions": {"kubelet": "v1.30.1"}, "components": ["kubelet"],
                       "parameters": [{"name": "limit", "type": "int", "default": 3, "max": 9},
                                      {"name": "wait", "type": "duration", "default_ms": 500}]}],
         "apis": [{"api": "apps/v1/deployments", "stage": "ga"}]}
        """
        let catalog = try JSONDecoder().decode(Catalog.self, from: Data(json.utf8))
        #expect(catalog.features[0].minimumVersions == ["kubelet": Version(1, 30, 1)])
        #expect(catalog.features[0].stage == .beta)
        #expect(catalog.features[0].parameters[0].kind == .int(default: 3, min: nil, max: 9))
        #expect(catalog.features[0].parameters[1].kind == .duration(defaultMs: 500, minMs: nil, maxMs: nil))
        #expect(catalog.apis[0].ref == APIRef(group: "apps", version: "v1", resource: "deployments"))
        #expect(catalog.apis[0].defaultEnabled == nil)
        let text = String(decoding: try JSONEncoder().encode(catalog), as: UTF8.self)
        #expect(text.contains("\"default_enabled\":true"))
        #expect(text.contains("\"min_component_versions\""))
        #expect(!text.contains("defaultEnabled"))
    }

    @Test func decodingErrorsAreReadable() {
        let json = #"{"features": [{"name": "X", "stage": "gamma", "default_enabled": true}]}"#
        do {
            _ = try JSONDecoder().decode(Catalog.self, from: Data(json.utf8))
            Issue.record("accepted stage gamma")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("unknown stage \"gamma\""))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func parameterValuesUseOneKey() throws {
        let data = try JSONEncoder().encode([ParameterValue.durationMs(5), .enumValue("a")])
        #expect(String(decoding: data, as: UTF8.self) == #"[{"duration_ms":5},{"enum":"a"}]"#)
        #expect(try JSONDecoder().decode([ParameterValue].self, from: data) == [.durationMs(5), .enumValue("a")])
    }
}
