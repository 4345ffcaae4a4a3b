import GatehouseCore
import GatehouseProto
import GatehouseWire
import Testing

/// A rollout decision reaches `gatectl explain` with its rule, its name and the step/bucket text.
@Suite struct ReasonWireTests {
    @Test func aRolloutDecisionCarriesNameAndTextOnTheWire() {
        let reason = Reason.rollout(RolloutDecision(name: "r7", step: 1, steps: 4, size: .percent(10), bucket: 0.031, phase: .running))
        let wire = reason.wire
        #expect(wire.rule == .rollout)
        #expect(wire.rollout == "r7")
        #expect(wire.text == "rollout r7 step 2/4 (10%), bucket 0.031")
    }
}
