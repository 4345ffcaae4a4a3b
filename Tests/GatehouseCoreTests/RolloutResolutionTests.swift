import Testing

@testable import GatehouseCore

/// Canaries (DESIGN rule 1) and where rollouts sit in precedence (rule 2).
@Suite struct RolloutResolutionTests {
    static let steps = [RolloutStep(size: .percent(10), bake: 60_000), RolloutStep(size: .percent(50)), RolloutStep(size: .percent(100))]

    static func rollout(
        _ name: String = "r7",
        target: RolloutTarget = .feature("B"),
        enabled: Bool = true,
        parameters: [String: ParameterValue] = [:],
        labels: [String: String] = [:],
        minimumVersion: Version? = nil,
        phase: RolloutPhase = .running,
        step: Int = 0,
        threshold: Double = 0.5
    ) -> Rollout {
        Rollout(
            name: name, target: target, enabled: enabled, parameters: parameters, component: Fixtures.kubelet,
            labels: labels, minimumVersion: minimumVersion, steps: Self.steps, phase: phase, step: step, threshold: threshold
        )
    }

    /// The fixture state with `changes` applied and `rollouts` stored as given: resolution is
    /// tested on any stored state, whatever the applier would let a batch start (RolloutApplierTests).
    static func state(_ rollouts: [Rollout], _ changes: [Change] = []) throws -> GateState {
        let base = try changes.isEmpty ? Fixtures.state : Fixtures.apply(changes, to: Fixtures.state)
        return GateState(
            revision: base.revision.next,
            features: Array(base.features.values),
            apis: Array(base.apis.values),
            featureOverrides: Array(base.featureOverrides.values),
            apiOverrides: Array(base.apiOverrides.values),
            rollouts: rollouts
        )
    }

    /// Instance ids of kubelet nodes inside and outside `rollout`'s threshold.
    static func split(_ rollout: Rollout) -> (inside: InstanceRef, outside: InstanceRef?) {
        let nodes = (0..<100).map { Fixtures.node("node-\($0)") }
        let inside = nodes.first { rollout.bucket(of: $0.instanceID) < rollout.threshold }!
        let outside = nodes.first { rollout.bucket(of: $0.instanceID) >= rollout.threshold }
        return (inside, outside)
    }

    @Test func aCanaryGetsTheRolloutsValueAndSaysWhere() throws {
        let rollout = Self.rollout(step: 1)
        let state = try Self.state([rollout])
        let (inside, maybeOutside) = Self.split(rollout)
        let outside = try #require(maybeOutside)
        let cohorts = state.cohorts(of: inside, labels: [:])
        #expect(cohorts.names == ["r7"])
        #expect(state.cohorts(of: outside, labels: [:]) == .none)

        let resolver = Resolver(state: state)
        let feature = try #require(resolver.resolve(inside, cohorts: cohorts).features["B"])
        #expect(feature.enabled)
        let bucket = rollout.bucket(of: inside.instanceID)
        #expect(feature.reason == .rollout(RolloutDecision(name: "r7", step: 1, steps: 3, size: .percent(50), bucket: bucket, phase: .running)))
        #expect(feature.reason.description == "rollout r7 step 2/3 (50%), bucket \(RolloutDecision.threeDecimals(bucket))")
        #expect(resolver.resolve(inside).features["B"]?.reason == .defaultValue, "without its cohorts an instance is no canary")
        #expect(resolver.resolve(outside, cohorts: state.cohorts(of: outside, labels: [:])).features["B"]?.enabled == false)
        #expect(resolver.resolveFeature("B", for: inside, cohorts: cohorts)?.enabled == true)
    }

    @Test func decisionsReadWell() {
        #expect(RolloutDecision(name: "r7", step: 1, steps: 4, size: .percent(10), bucket: 0.0312, phase: .running).description
            == "rollout r7 step 2/4 (10%), bucket 0.031")
        #expect(RolloutDecision(name: "r7", step: 0, steps: 4, size: .instances(3), bucket: 0.5, phase: .paused).description
            == "rollout r7 step 1/4 (3 instances, paused), bucket 0.500")
        #expect(RolloutDecision(name: "r7", step: 3, steps: 4, size: .percent(100), bucket: 0.71249, phase: .completed).description
            == "rollout r7 completed (step 4/4, 100%), bucket 0.712")
        #expect(RolloutDecision.threeDecimals(0.9999) == "1.000")
        #expect(RolloutDecision.threeDecimals(0) == "0.000")
    }

    @Test func overridesAtEveryScopeAndLocksBeatTheRollout() throws {
        let rollout = Self.rollout(threshold: 1)
        let (inside, _) = Self.split(rollout)
        for scope in [Scope.global, .component(Fixtures.kubelet), inside.scope] {
            let state = try Self.state([rollout], [.setFeature("B", scope: scope, enabled: false)])
            let feature = Resolver(state: state).resolve(inside, cohorts: state.cohorts(of: inside, labels: [:])).features["B"]
            #expect(feature?.enabled == false)
            #expect(feature?.reason.isOverride == true, "\(scope) decides, not the rollout")
        }
        // A locked feature is decided by its lock even for a canary (Start refuses such a rollout; a stored one cannot decide).
        let locked = try Self.state([Self.rollout("rc", target: .feature("C"), enabled: false, threshold: 1)])
        let cohorts = locked.cohorts(of: inside, labels: [:])
        #expect(cohorts.names == ["rc"])
        #expect(Resolver(state: locked).resolve(inside, cohorts: cohorts).features["C"]?.reason == .locked)
    }

    @Test func canariesGetTheRolloutsParametersBelowOverridesThatSetThem() throws {
        let rollout = Self.rollout(target: .feature("D"), parameters: ["n": .int(9), "s": .string("xyz")], threshold: 1)
        let (inside, _) = Self.split(rollout)
        let state = try Self.state([rollout], [.setFeature("D", scope: .global, enabled: nil, parameters: ["s": .string("global")])])
        let feature = try #require(Resolver(state: state).resolve(inside, cohorts: state.cohorts(of: inside, labels: [:])).features["D"])
        #expect(feature.parameters["n"] == .int(9))
        #expect(feature.parameterReasons["n"].map { if case .rollout = $0 { true } else { false } } == true)
        #expect(feature.parameters["s"] == .string("global"), "an override of the parameter beats the rollout")
        #expect(feature.parameters["m"] == .enumValue("safe"), "parameters the rollout does not set keep their default")
        let plain = Resolver(state: state).resolve(inside).features["D"]
        #expect(plain?.parameters["n"] == .int(5))
    }

    @Test func rolloutsDecideAPIsBelowOverrides() throws {
        let beta = APIRef(group: "batch", version: "v1beta1")
        let deployments = APIRef(group: "apps", version: "v1", resource: "deployments")
        let apiRollout = Self.rollout(target: .api(beta), threshold: 1)
        let groupRollout = Self.rollout("rg", target: .api(APIRef(group: "apps", version: "v1")), enabled: false, threshold: 1)
        let (inside, _) = Self.split(apiRollout)
        var state = try Self.state([apiRollout, groupRollout])
        var cohorts = state.cohorts(of: inside, labels: [:])
        #expect(cohorts.names == ["r7", "rg"])
        var apis = Resolver(state: state).resolve(inside, cohorts: cohorts).apis
        #expect(apis[beta]?.enabled == true)
        #expect(apis[beta]?.reason.description.hasPrefix("rollout r7 step 1/3 (10%), bucket ") == true)
        #expect(apis[deployments]?.enabled == false, "a group/version rollout covers its resources")
        #expect(apis[APIRef(group: "apps", version: "v1")]?.enabled == false)
        #expect(Resolver(state: state).resolve(inside).apis[beta]?.enabled == false)

        state = try Self.state([apiRollout, groupRollout], [.setAPI(.stage(.beta), scope: .global, enabled: false)])
        cohorts = state.cohorts(of: inside, labels: [:])
        apis = Resolver(state: state).resolve(inside, cohorts: cohorts).apis
        #expect(apis[beta]?.enabled == false)
        #expect(apis[beta]?.reason.isOverride == true, "a global API override beats the rollout")
    }

    @Test func theSelectionDecidesWhoCanBeACanary() throws {
        let labelled = Self.rollout(labels: ["zone": "a"], minimumVersion: Version(1, 31), threshold: 1)
        let state = try Self.state([labelled])
        let node = Fixtures.node("n1", Version(1, 31, 2))
        #expect(state.cohorts(of: node, labels: ["zone": "a", "rack": "9"]).names == ["r7"])
        #expect(state.cohorts(of: node, labels: ["zone": "b"]) == .none)
        #expect(state.cohorts(of: node, labels: [:]) == .none)
        #expect(state.cohorts(of: Fixtures.node("n1", Version(1, 30)), labels: ["zone": "a"]) == .none, "below the rollout's minimum")
        #expect(state.cohorts(of: Fixtures.node("n1", nil), labels: ["zone": "a"]) == .none, "no version, a minimum asked for")
        #expect(state.cohorts(of: Fixtures.node("n1", component: "kube-proxy"), labels: ["zone": "a"]) == .none)
    }

    @Test func anInstanceBelowTheFeaturesMinimumIsNeverACanaryOfItsEnabling() throws {
        // K needs kubelet 1.31.
        let enabling = try Self.state([Self.rollout(target: .feature("K"), threshold: 1)])
        let rollout = try enabling.requireRollout("r7")
        #expect(enabling.isEligible(Fixtures.node("n1", Version(1, 31, 0)), labels: [:], for: rollout))
        #expect(!enabling.isEligible(Fixtures.node("n1", Version(1, 30, 9)), labels: [:], for: rollout))
        #expect(enabling.cohorts(of: Fixtures.node("n1", Version(1, 31, 0)), labels: [:]).names == ["r7"])
        #expect(enabling.cohorts(of: Fixtures.node("n1", Version(1, 30, 9)), labels: [:]) == .none)
        #expect(enabling.cohorts(of: Fixtures.node("n1", nil), labels: [:]) == .none)
        let disabling = try Self.state([Self.rollout(target: .feature("K"), enabled: false, threshold: 1)])
        #expect(disabling.cohorts(of: Fixtures.node("n1", Version(1, 30, 9)), labels: [:]).names == ["r7"], "turning it off needs no code")
    }

    @Test func onlyRolloutsInEffectHaveCanaries() throws {
        let node = Fixtures.node("n1")
        let completed = Self.rollout(phase: .completed, step: 2, threshold: 0)
        #expect(try Self.state([completed]).cohorts(of: node, labels: [:]).names == ["r7"], "completed: the whole selection")
        #expect(try Self.state([Self.rollout(phase: .paused, threshold: 1)]).cohorts(of: node, labels: [:]).names == ["r7"])
        for phase in [RolloutPhase.rolledBack, .aborted] {
            #expect(try Self.state([Self.rollout(phase: phase, threshold: 1)]).cohorts(of: node, labels: [:]) == .none)
        }
        #expect(try Self.state([Self.rollout(threshold: 0)]).cohorts(of: node, labels: [:]) == .none, "threshold 0: nobody yet")
    }

    @Test func aCanaryWhoseDependencyIsOffResolvesOff() throws {
        // A needs B, which is off by default.
        let rollout = Self.rollout(target: .feature("A"), threshold: 1)
        let state = try Self.state([rollout])
        let node = Fixtures.node("n1")
        let feature = Resolver(state: state).resolve(node, cohorts: state.cohorts(of: node, labels: [:])).features["A"]
        #expect(feature?.enabled == false)
        #expect(feature?.reason == .dependencyDisabled("B"))
    }
}
