import Testing

@testable import GatehouseCore

/// What BatchApplier enforces for rollouts (DESIGN rules 3 and 4): start refusals, masks, legal transitions, stamping, the bound.
@Suite struct RolloutApplierTests {
    static let time = Fixtures.time

    static func spec(
        _ target: RolloutTarget = .feature("B"),
        name: String = "r7",
        enabled: Bool = true,
        parameters: [String: ParameterValue] = [:],
        component: String = Fixtures.kubelet,
        steps: [RolloutStep] = [RolloutStep(size: .percent(10), bake: 60_000), RolloutStep(size: .percent(100))]
    ) -> Rollout {
        let rollout = Rollout(name: name, target: target, enabled: enabled, parameters: parameters, component: component, steps: steps, actor: "alice")
        return RolloutMachine.start(rollout, at: Self.time, selection: [])
    }

    static func applied(_ changes: [Change], to state: GateState, live: [InstanceRef] = []) throws(GateError) -> AppliedBatch {
        try BatchApplier().apply(ChangeBatch(changes: changes, reason: "test", actor: "alice"), to: state, at: Self.time, liveInstances: live)
    }

    static func refusal(_ changes: [Change], to state: GateState, live: [InstanceRef] = []) -> GateError? {
        Fixtures.refusal(changes, to: state, live: live)
    }

    static func started(_ rollout: Rollout = Self.spec(), on state: GateState = Fixtures.state) throws -> GateState {
        try Fixtures.apply([.putRollout(rollout)], to: state)
    }

    // MARK: - Stamping

    @Test func theApplierStampsTheRevisionThatEnteredEachStepOrPhase() throws {
        var state = try Self.started()
        let started = try #require(state.rollout("r7"))
        #expect(started.stepRevision == state.revision)
        #expect(started.revision == state.revision)

        // A put with nothing new is no change at all.
        let again = try Self.applied([.putRollout(started)], to: state)
        #expect(again.summary.changes.isEmpty)

        var widened = RolloutMachine.widened(started, at: Self.time.advanced(by: 60_000), selection: [])
        widened.stepRevision = Revision(999)  // whatever the caller says, the applier stamps
        state = try Self.applied([.putRollout(widened)], to: state).state
        #expect(state.rollout("r7")?.stepRevision == state.revision)
        let stepRevision = state.revision

        let paused = try RolloutMachine.pause(state.rollout("r7")!, at: Self.time.advanced(by: 60_001), reason: "look")
        state = try Fixtures.apply([.putRollout(paused)], to: state)
        #expect(state.rollout("r7")?.stepRevision == state.revision, "a phase change is acked again")
        #expect(state.rollout("r7")?.stepRevision != stepRevision)
    }

    // MARK: - Start refusals

    @Test func badSpecsAreInvalidRollouts() {
        let tooLong = Int64(8 * 24 * 3_600_000)
        let bad: [(String, Rollout)] = [
            ("no steps", Self.spec(steps: [])),
            ("17 steps", Self.spec(steps: Array(repeating: RolloutStep(size: .percent(100)), count: 17))),
            ("0%", Self.spec(steps: [RolloutStep(size: .percent(0))])),
            ("101%", Self.spec(steps: [RolloutStep(size: .percent(101))])),
            ("0 instances", Self.spec(steps: [RolloutStep(size: .instances(0))])),
            ("shrinking percent", Self.spec(steps: [RolloutStep(size: .percent(50)), RolloutStep(size: .percent(10))])),
            ("shrinking count", Self.spec(steps: [RolloutStep(size: .instances(5)), RolloutStep(size: .percent(1)), RolloutStep(size: .instances(2))])),
            ("8 day bake", Self.spec(steps: [RolloutStep(size: .percent(10), bake: tooLong)])),
            ("negative bake", Self.spec(steps: [RolloutStep(size: .percent(10), bake: -1)])),
            ("bad name", Self.spec(name: "has space")),
            ("long name", Self.spec(name: String(repeating: "r", count: 64))),
            ("empty name", Self.spec(name: "")),
            ("API parameters", Self.spec(.api(APIRef(group: "batch", version: "v1beta1")), parameters: ["n": .int(1)])),
        ]
        for (what, rollout) in bad {
            let error = Self.refusal([.putRollout(rollout)], to: Fixtures.state)
            #expect(error?.reason == .invalidRollout, "\(what): \(error?.description ?? "accepted")")
            #expect(error?.code == .invalidArgument)
        }
        #expect(Self.refusal([.putRollout(Self.spec(name: String(repeating: "r", count: 63)))], to: Fixtures.state) == nil)
        #expect(Self.refusal([.putRollout(Self.spec(steps: [RolloutStep(size: .instances(2)), RolloutStep(size: .percent(5)), RolloutStep(size: .instances(2))]))], to: Fixtures.state) == nil)
    }

    @Test func aTakenNameIsRefused() throws {
        let state = try Self.started()
        var other = Self.spec(.feature("F"))
        other.createdAt = Self.time.advanced(by: 5)
        let error = Self.refusal([.putRollout(other)], to: state)
        #expect(error?.reason == .rolloutExists)
        #expect(error?.code == .alreadyExists)
        #expect(error?.metadata == ["rollout": "r7"])

        var aborted = try RolloutMachine.abort(state.rollout("r7")!, reason: "", actor: "bob")
        let finished = try Fixtures.apply([.putRollout(aborted)], to: state)
        aborted = Self.spec()
        aborted.createdAt = Self.time.advanced(by: 9)
        #expect(Self.refusal([.putRollout(aborted)], to: finished)?.reason == .rolloutExists, "finished rollouts keep their names")
    }

    @Test func unknownTargetsAndComponentsTheyDoNotApplyToAreRefused() {
        #expect(Self.refusal([.putRollout(Self.spec(.feature("Nope")))], to: Fixtures.state)?.reason == .unknownFeature)
        #expect(Self.refusal([.putRollout(Self.spec(.api(APIRef(group: "nope", version: "v1"))))], to: Fixtures.state)?.reason == .unknownAPI)
        #expect(Self.refusal([.putRollout(Self.spec(.feature("K"), component: Fixtures.controllerManager))], to: Fixtures.state)?.reason == .notApplicable)
        #expect(Self.refusal([.putRollout(Self.spec(.feature("D"), parameters: ["zz": .int(1)]))], to: Fixtures.state)?.reason == .unknownParameter)
        #expect(Self.refusal([.putRollout(Self.spec(.feature("D"), parameters: ["n": .int(99)]))], to: Fixtures.state)?.reason == .invalidParameter)
        #expect(Self.refusal([.putRollout(Self.spec(.feature("D"), parameters: ["n": .int(9)]))], to: Fixtures.state) == nil)
        var notStarted = Self.spec(name: "r9")
        notStarted.phase = .paused
        #expect(Self.refusal([.putRollout(notStarted)], to: Fixtures.state)?.reason == .rolloutNotFound)
    }

    @Test func aLockedFeatureCannotBeRolledOut() {
        let error = Self.refusal([.putRollout(Self.spec(.feature("C"), enabled: false))], to: Fixtures.state)
        #expect(error?.reason == .lockedGate)
        #expect(error?.message.contains("locked") == true)
    }

    @Test func dependenciesAreCheckedAsIfTheRolloutCoveredItsWholeSelection() throws {
        // A needs B, which is off: no canary could have A.
        let unmet = Self.refusal([.putRollout(Self.spec(.feature("A")))], to: Fixtures.state)
        #expect(unmet?.reason == .unmetDependency)
        #expect(unmet?.metadata["dependency"] == "B")
        #expect(unmet?.message.hasPrefix("cannot enable A on kubelet") == true, "\(unmet?.message ?? "")")
        // With B on it is fine.
        let withB = try Fixtures.apply([.setFeature("B", scope: .global, enabled: true)], to: Fixtures.state)
        let started = try Self.started(Self.spec(.feature("A")), on: withB)
        // And B cannot then be turned off under the canaries.
        let dependents = Self.refusal([.setFeature("B", scope: .global, enabled: false)], to: started)
        #expect(dependents?.reason == .dependentsEnabled, "\(dependents?.description ?? "accepted")")
        #expect(dependents?.metadata["feature"] == "A")

        // E (on by default) needs F: a rollout disabling F would leave E without it.
        let disabling = Self.refusal([.putRollout(Self.spec(.feature("F"), enabled: false))], to: Fixtures.state)
        #expect(disabling?.reason == .dependentsEnabled)
        #expect(disabling?.metadata["feature"] == "E")
        // Disabling E on the same component first is not enough: L, locked on, needs F too.
        let eOff = try Fixtures.apply([.setFeature("E", scope: .component(Fixtures.kubelet), enabled: false)], to: Fixtures.state)
        let locked = Self.refusal([.putRollout(Self.spec(.feature("F"), enabled: false))], to: eOff)
        #expect(locked?.reason == .dependentsEnabled)
        #expect(locked?.metadata["feature"] == "L")
    }

    @Test func aSecondRolloutOfTheSameTargetOnTheSameComponentConflicts() throws {
        let state = try Self.started()
        let second = Self.spec(name: "r8")
        let error = Self.refusal([.putRollout(second)], to: state)
        #expect(error?.reason == .rolloutConflict)
        #expect(error?.metadata == ["rollout": "r8", "component": Fixtures.kubelet, "existing": "r7"])
        #expect(Self.refusal([.putRollout(Self.spec(name: "r8", component: "kube-proxy"))], to: state) == nil, "another component is fine")
        #expect(Self.refusal([.putRollout(Self.spec(.feature("F"), name: "r8"))], to: state) == nil, "another target is fine")

        let completed = try Fixtures.apply([.putRollout(RolloutMachine.promote(state.rollout("r7")!))], to: state)
        let stillInEffect = Self.refusal([.putRollout(second)], to: completed)
        #expect(stillInEffect?.reason == .rolloutConflict)
        #expect(stillInEffect?.message.contains("make it permanent with gatectl enable B --component kubelet, then abort it") == true, "\(stillInEffect?.message ?? "")")

        let aborted = try Fixtures.apply([.putRollout(RolloutMachine.abort(completed.rollout("r7")!, reason: "", actor: "bob"))], to: completed)
        #expect(Self.refusal([.putRollout(second)], to: aborted) == nil, "an aborted one leaves the place free")
    }

    @Test func anOverrideThatWouldMaskTheRolloutRefusesTheStart() throws {
        for scope in [Scope.global, .component(Fixtures.kubelet), .instance(component: Fixtures.kubelet, id: "node-4")] {
            let state = try Fixtures.apply([.setFeature("B", scope: scope, enabled: false)], to: Fixtures.state)
            let error = Self.refusal([.putRollout(Self.spec())], to: state)
            #expect(error?.reason == .rolloutMasked, "\(scope)")
            #expect(error?.metadata == ["rollout": "r7", "scope": scope.key, "target": "B"])
            #expect(error?.message.contains("clear that override first") == true)
        }
        let elsewhere = try Fixtures.apply([.setFeature("B", scope: .component("kube-proxy"), enabled: false)], to: Fixtures.registeredState)
        #expect(Self.refusal([.putRollout(Self.spec())], to: elsewhere) == nil)
        let parametersOnly = try Fixtures.apply([.setFeature("D", scope: .global, enabled: nil, parameters: ["n": .int(1)])], to: Fixtures.state)
        #expect(Self.refusal([.putRollout(Self.spec(.feature("D")))], to: parametersOnly) == nil, "an override without a value decides no value")

        let api = APIRef(group: "batch", version: "v1beta1")
        let staged = try Fixtures.apply([.setAPI(.stage(.beta), scope: .global, enabled: false)], to: Fixtures.state)
        #expect(Self.refusal([.putRollout(Self.spec(.api(api)))], to: staged)?.reason == .rolloutMasked, "api/beta covers batch/v1beta1")
    }

    @Test func aSetThatWouldMaskARunningOrPausedRolloutIsRefused() throws {
        let running = try Self.started(on: Fixtures.registeredState)
        for scope in [Scope.global, .component(Fixtures.kubelet), .instance(component: Fixtures.kubelet, id: "node-4")] {
            let error = Self.refusal([.setFeature("B", scope: scope, enabled: true)], to: running)
            #expect(error?.reason == .rolloutMasked, "\(scope)")
            #expect(error?.metadata == ["rollout": "r7", "scope": scope.key, "target": "B"])
            #expect(error?.message.contains("pause it") == true)
        }
        #expect(Self.refusal([.setFeature("B", scope: .component("kube-proxy"), enabled: true)], to: running) == nil)
        #expect(Self.refusal([.setFeature("F", scope: .global, enabled: true)], to: running) == nil)

        let paused = try Fixtures.apply([.putRollout(RolloutMachine.pause(running.rollout("r7")!, at: Self.time, reason: "x"))], to: running)
        #expect(Self.refusal([.setFeature("B", scope: .global, enabled: true)], to: paused)?.reason == .rolloutMasked)

        // A completed rollout may be masked: that is how it is made permanent.
        let completed = try Fixtures.apply([.putRollout(RolloutMachine.promote(running.rollout("r7")!))], to: running)
        let permanent = try Fixtures.apply([.setFeature("B", scope: .component(Fixtures.kubelet), enabled: true)], to: completed)
        let node = Fixtures.node("node-1")
        #expect(Resolver(state: permanent).resolve(node, cohorts: permanent.cohorts(of: node, labels: [:])).features["B"]?.reason.isOverride == true)

        // APIs: a selector that covers the rollout's API.
        let api = try Self.started(Self.spec(.api(APIRef(group: "batch", version: "v1beta1")), name: "ra"))
        #expect(Self.refusal([.setAPI(.stage(.beta), scope: .global, enabled: true)], to: api)?.reason == .rolloutMasked)
        #expect(Self.refusal([.setAPI(.all, scope: .component(Fixtures.kubelet), enabled: true)], to: api)?.reason == .rolloutMasked)
        #expect(Self.refusal([.setAPI(.stage(.alpha), scope: .global, enabled: true)], to: api) == nil)
    }

    // MARK: - Transitions

    @Test func onlyTransitionsOfTheRolloutAreAccepted() throws {
        let state = try Self.started()
        let running = try #require(state.rollout("r7"))
        var backwards = RolloutMachine.widened(running, at: Self.time, selection: [])
        backwards = try #require(Optional(backwards))
        let widened = try Fixtures.apply([.putRollout(backwards)], to: state)
        var shrunk = try #require(widened.rollout("r7"))
        shrunk.threshold = 0.05
        let error = Self.refusal([.putRollout(shrunk)], to: widened)
        #expect(error?.reason == .rolloutState)
        #expect(error?.metadata == ["rollout": "r7", "phase": "running"])
        var earlier = try #require(widened.rollout("r7"))
        earlier.step = 0
        #expect(Self.refusal([.putRollout(earlier)], to: widened)?.reason == .rolloutState)

        let aborted = try Fixtures.apply([.putRollout(RolloutMachine.abort(running, reason: "", actor: "bob"))], to: state)
        var revived = try #require(aborted.rollout("r7"))
        revived.phase = .running
        #expect(Self.refusal([.putRollout(revived)], to: aborted)?.reason == .rolloutState, "nothing after an abort")

        let completed = try Fixtures.apply([.putRollout(RolloutMachine.promote(running))], to: state)
        var reopened = try #require(completed.rollout("r7"))
        reopened.phase = .running
        #expect(Self.refusal([.putRollout(reopened)], to: completed)?.metadata["phase"] == "completed")

        var paused = try RolloutMachine.pause(running, at: Self.time, reason: "x")
        let pausedState = try Fixtures.apply([.putRollout(paused)], to: state)
        paused = try #require(pausedState.rollout("r7"))
        paused.phase = .rolledBack
        #expect(Self.refusal([.putRollout(paused)], to: pausedState)?.reason == .rolloutState, "only a running rollout rolls back")
    }

    @Test func finishedRolloutsAreBoundedOldestFirst() throws {
        var state = Fixtures.state
        let bound = BatchApplier.maximumFinishedRollouts
        var last: AppliedBatch?
        for index in 0...bound {
            let rollout = Self.spec(name: "p\(index)")
            let aborted = try RolloutMachine.abort(rollout, reason: "", actor: "bob")
            last = try Self.applied([.putRollout(rollout), .putRollout(aborted)], to: state)
            state = last!.state
        }
        #expect(state.rollouts.count == bound)
        #expect(state.rollout("p0") == nil, "the oldest finished one went")
        #expect(state.rollout("p1") != nil)
        #expect(last?.summary.changes.contains { $0.key == .rollout("p0") && $0.after == nil } == true, "deleted in the batch, so the store deletes it")
        // In-effect rollouts are never pruned.
        let running = try Self.started(Self.spec(.feature("F"), name: "live"), on: state)
        let more = try Self.applied([.putRollout(Self.spec(name: "q")), .putRollout(RolloutMachine.abort(Self.spec(name: "q"), reason: "", actor: "bob"))], to: running).state
        #expect(more.rollout("live")?.phase == .running)
        #expect(more.rollouts.count == bound + 1)
    }
}
