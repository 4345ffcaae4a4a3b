@testable import GatehouseCore
import PropertyBased
import Testing

/// Properties of canary membership (DESIGN rule 1): the bucket is a pure function of
/// (rollout name, instance id), steps only add canaries, percents hit their share,
/// instance counts cover exactly their count.
@Suite("Rollout properties")
struct RolloutPropertyTests {
    static let names = Gen<Character>.letterOrNumber.string(of: 1...12)
    static let ids = Gen<Character>.letterOrNumber.string(of: 1...16).array(of: 1...60)

    static func rollout(_ name: String, steps: [RolloutStep] = [RolloutStep(size: .percent(100))]) -> Rollout {
        Rollout(name: name, target: .feature("B"), enabled: true, component: "kubelet", steps: steps)
    }

    @Test func aBucketIsStickyAndDeterministic() async {
        await propertyCheck(input: Self.names, Self.ids) { name, ids in
            let rollout = Self.rollout(name)
            var moved = rollout
            moved.threshold = 0.7
            moved.step = 0
            moved.phase = .paused
            moved.labels = ["zone": "a"]
            for id in ids {
                let bucket = rollout.bucket(of: id)
                #expect(bucket >= 0 && bucket < 1)
                #expect(rollout.bucket(of: id) == bucket, "the same every time")
                #expect(Rollout.bucket(rollout: name, instanceID: id) == bucket, "a function of name and id only")
                #expect(moved.bucket(of: id) == bucket, "no step, phase or selection moves it")
            }
        }
    }

    /// Random steps (percents and counts, non-decreasing per kind) walked by the machine with every canary healthy.
    static let stepsInput = Gen.int(in: 1...100).array(of: 1...6)

    @Test func aCanaryAtOneStepIsOneAtEveryLaterStep() async {
        await propertyCheck(input: Self.names, Self.ids, Self.stepsInput) { name, ids, sizes in
            let unique = Array(Set(ids))
            let steps = sizes.sorted().enumerated().map { index, size in
                RolloutStep(size: index % 2 == 0 ? .percent(Double(size)) : .instances(size))
            }
            let spec = Self.rollout(name, steps: steps)
            let selection = unique.map(spec.bucket(of:))
            var rollout = RolloutMachine.start(spec, at: UnixMilliseconds(0), selection: selection)
            var previous = Set(unique.filter { rollout.bucket(of: $0) < rollout.threshold })
            var time = UnixMilliseconds(0)
            while rollout.phase == .running {
                time = time.advanced(by: 1)
                let canaries = unique.filter { rollout.bucket(of: $0) < rollout.threshold }.map {
                    CanaryObservation(instanceID: $0, bucket: rollout.bucket(of: $0), ackedRevision: rollout.stepRevision)
                }
                guard let next = RolloutMachine.tick(rollout, at: time, serverStartedAt: UnixMilliseconds(0), canaries: canaries, selection: selection).next else {
                    Issue.record("a healthy rollout with no bake must widen")
                    return
                }
                #expect(next.threshold >= rollout.threshold)
                let now = Set(unique.filter { next.includes(InstanceRef(component: "kubelet", instanceID: $0, version: nil), labels: [:]) })
                #expect(previous.isSubset(of: now), "a canary stays one")
                previous = now
                rollout = next
            }
            #expect(rollout.phase == .completed)
            #expect(previous == Set(unique), "completed covers the whole selection")
        }
    }

    @Test func aPercentStepHitsItsShareWithinTwoPercent() async {
        let ids = (0..<10_000).map { "instance-\($0)" }
        await propertyCheck(count: 40, input: Self.names, Gen.int(in: 1...100)) { name, percent in
            let rollout = Self.rollout(name)
            let threshold = RolloutMachine.threshold(for: .percent(Double(percent)), after: 0, selection: [])
            let share = Double(ids.count { rollout.bucket(of: $0) < threshold }) / Double(ids.count)
            #expect(abs(share - Double(percent) / 100) <= 0.02, "\(name) at \(percent)%: \(share)")
        }
    }

    @Test func anInstanceStepCoversExactlyItsCountOfTheSelection() async {
        await propertyCheck(input: Self.names, Self.ids, Gen.int(in: 1...80)) { name, ids, count in
            let unique = Array(Set(ids))
            let rollout = Self.rollout(name)
            let selection = unique.map(rollout.bucket(of:))
            let threshold = RolloutMachine.threshold(for: .instances(count), after: 0, selection: selection)
            #expect(selection.count { $0 < threshold } == min(count, unique.count))
        }
    }
}

extension RolloutPropertyTests {
    /// Random operator and driver actions on several rollouts, applied through BatchApplier:
    /// whatever is accepted keeps the invariants, and every summary replays and reverts exactly.
    @Test func randomRolloutHistoriesKeepTheirInvariants() async {
        await propertyCheck(count: 150, input: Gen.int(in: 0..<8).array(of: 1...30)) { actions in
            var state = Fixtures.state
            var time = Fixtures.time
            var started = 0
            let targets: [RolloutTarget] = [.feature("B"), .feature("D"), .api(APIRef(group: "batch", version: "v1beta1"))]
            let selection = (0..<30).map { Rollout.bucket(rollout: "x", instanceID: "node-\($0)") }
            for action in actions {
                time = time.advanced(by: 1_000)
                let active = state.rollouts.values.filter(\.isActive).sorted { $0.name < $1.name }
                var changes: [Change] = []
                switch action {
                case 0, 1:
                    started += 1
                    let spec = Rollout(
                        name: "r\(started)", target: targets[started % targets.count], enabled: true, component: Fixtures.kubelet,
                        steps: [RolloutStep(size: .instances(3)), RolloutStep(size: .percent(40)), RolloutStep(size: .percent(100))]
                    )
                    changes = [.putRollout(RolloutMachine.start(spec, at: time, selection: selection))]
                case 2, 3:
                    if let rollout = active.first(where: { $0.phase == .running }) {
                        changes = [.putRollout(RolloutMachine.widened(rollout, at: time, selection: selection))]
                    }
                case 4:
                    if let rollout = active.first, let next = try? RolloutMachine.pause(rollout, at: time, reason: "p") { changes = [.putRollout(next)] }
                case 5:
                    if let rollout = active.first, let next = try? RolloutMachine.resume(rollout, at: time) { changes = [.putRollout(next)] }
                case 6:
                    if let rollout = state.rollouts.values.filter(\.isInEffect).min(by: { $0.name < $1.name }),
                        let next = try? RolloutMachine.abort(rollout, reason: "a", actor: "bob")
                    {
                        changes = [.putRollout(next)]
                    }
                default:
                    changes = [.setFeature("B", scope: .component(Fixtures.kubelet), enabled: Bool.random())]
                }
                guard !changes.isEmpty else { continue }
                guard let applied = try? BatchApplier().apply(ChangeBatch(changes: changes, actor: "alice"), to: state, at: time, liveInstances: [])
                else { continue }
                #expect(state.replaying(applied.summary) == applied.state)
                #expect(applied.state.reverting(applied.summary) == state)
                for (name, before) in state.rollouts {
                    guard let after = applied.state.rollouts[name] else { continue }
                    if after.isInEffect {
                        #expect(after.threshold >= before.threshold, "\(name) never narrows")
                        #expect(after.step >= before.step)
                    }
                    if before.step != after.step || before.phase != after.phase {
                        #expect(after.stepRevision == applied.state.revision, "the revision that entered the step is stamped")
                    }
                }
                state = applied.state
                // At most one in effect per (target, component), and the index says which.
                var slots: [RolloutTarget: String] = [:]
                for rollout in state.rollouts.values where rollout.isInEffect {
                    #expect(slots.updateValue(rollout.name, forKey: rollout.target) == nil, "two in effect for \(rollout.target)")
                    #expect(state.rolloutInEffect(of: rollout.target, on: rollout.component)?.name == rollout.name)
                }
                // Nothing masks a running or paused rollout.
                if let rollout = state.rolloutInEffect(of: .feature("B"), on: Fixtures.kubelet), rollout.isActive {
                    #expect(state.featureOverrides[FeatureOverrideKey(feature: "B", scope: .component(Fixtures.kubelet))]?.enabled == nil)
                }
            }
        }
    }
}
