import GatehouseCore
import GatehouseProto
import GatehouseWire
import Testing

/// features.proto: `Api.default_enabled` is output only, derived from the stage.
@Suite struct APIWireDefaultTests {
    @Test(arguments: [(Gatehouse_V1_Stage.ga, true), (.deprecated, true), (.beta, false), (.alpha, false)])
    func aDefinitionWithoutADefaultTakesTheStages(_ stage: Gatehouse_V1_Stage, _ expected: Bool) throws {
        let wire = Gatehouse_V1_Api.with {
            $0.group = "batch"
            $0.version = "v1"
            $0.stage = stage
        }
        let api = try APIDefinition(wire: wire, field: "api")
        #expect(api.defaultEnabled == nil)
        #expect(api.effectiveDefault == expected)
        var state = GateState()
        state = try BatchApplier().apply(
            ChangeBatch(changes: [.defineAPI(api)], actor: "admin"), to: state, at: UnixMilliseconds(0), liveInstances: []
        ).state
        let resolved = Resolver(state: state).resolve(scope: .global)
        #expect(resolved.apis[api.ref]?.enabled == expected)
        #expect(api.wire(revision: 1).defaultEnabled == expected)
    }

    @Test func aDefaultSentOnTheWireIsIgnored() throws {
        // Output only: a client echoing a read-back value cannot pin the default against the stage.
        let wire = Gatehouse_V1_Api.with {
            $0.version = "v1"
            $0.stage = .alpha
            $0.defaultEnabled = true
        }
        #expect(try APIDefinition(wire: wire, field: "api").effectiveDefault == false)
    }
}
