import GatehouseClient
import GatehouseCore
import GatehouseRPC
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import GatehouseServer

/// Rollouts in the hub: a rollout splits a (component, version) group into
/// its canaries and the rest, a step moves only the instances it widens to
/// (one push each) and resolves a number of groups that does not grow with
/// the fleet, and a rollback returns the canaries. Same harness as
/// ``SubscriptionHubTests``: outlets on an `EmbeddedEventLoop`, recording writers.
@Suite struct SubscriptionHubRolloutTests {
    typealias Hub = SubscriptionHubTests

    static let catalog = [
        FeatureDefinition(name: "R", stage: .beta, defaultEnabled: false),
        FeatureDefinition(name: "K", components: ["kubelet"], stage: .beta, defaultEnabled: true),
    ]

    static let steps = [RolloutStep(size: .percent(10)), RolloutStep(size: .percent(50)), RolloutStep(size: .percent(100))]

    /// Rollout r7 of R=true on the kubelets, at `step` with `threshold`.
    static func rollout(step: Int, threshold: Double, phase: RolloutPhase = .running, labels: [String: String] = [:]) -> Rollout {
        Rollout(
            name: "r7", target: .feature("R"), enabled: true, component: "kubelet", labels: labels, steps: Self.steps,
            phase: phase, step: step, threshold: threshold, message: phase == .rolledBack ? "canaries unhealthy" : ""
        )
    }

    /// A hub with `count` kubelets (and one apiserver) subscribed, each with its writer.
    struct Fleet {
        var state: GateState
        let hub: SubscriptionHub
        let loop = EmbeddedEventLoop()
        var writers: [String: Hub.RecordingWriter] = [:]

        init(kubelets count: Int, labels: (Int) -> [String: String] = { _ in [:] }) throws {
            var state = GateState()
            _ = try Hub.commit(SubscriptionHubRolloutTests.catalog.map(Change.defineFeature), to: &state)
            self.state = state
            self.hub = Hub.makeHub(state)
            for index in 0..<count {
                let writer = Hub.RecordingWriter(loop: self.loop)
                let outlet = SubscriberOutlet(writer: writer.onLoop, limits: self.hub.configuration.queue) { _ in }
                let join = try self.hub.join(Hub.instance("kubelet", "n\(index)"), labels: labels(index), since: nil, outlet: outlet)
                outlet.start(join, revision: self.hub.revision)
                self.writers["n\(index)"] = writer
            }
            let writer = Hub.RecordingWriter(loop: self.loop)
            _ = try Hub.subscribe(self.hub, Hub.instance("kube-apiserver", "a1"), writer: writer)
            self.writers["a1"] = writer
            self.loop.run()
        }

        /// Commits and applies a batch; returns how many group resolutions it cost.
        mutating func apply(_ changes: [Change]) throws -> Int {
            let before = self.hub.groupsResolved
            self.hub.apply(try Hub.commit(changes, to: &self.state))
            self.loop.run()
            return self.hub.groupsResolved - before
        }

        /// Each subscriber's messages so far.
        var counts: [String: Int] { self.writers.mapValues(\.messages.count) }

        /// Whether `id` would be a canary of `rollout` (the rule, computed here independently of the hub).
        static func inside(_ id: String, _ threshold: Double) -> Bool {
            Rollout.bucket(rollout: "r7", instanceID: id) < threshold
        }

        /// The value of R in `id`'s last delta.
        func lastR(_ id: String) throws -> Bool? {
            guard case .delta(let delta)? = try self.writers[id]!.decoded().last?.message else { return nil }
            return delta.features.first { $0.name == "R" }?.enabled
        }
    }

    /// The instances whose bucket falls in [low, high).
    static func between(_ low: Double, _ high: Double, of count: Int) -> Set<String> {
        Set((0..<count).map { "n\($0)" }.filter { !Fleet.inside($0, low) && Fleet.inside($0, high) })
    }

    @Test(arguments: [40, 400])
    func aStepMovesOnlyTheInstancesItWidensToAndResolvesAConstantNumberOfGroups(kubelets: Int) throws {
        var fleet = try Fleet(kubelets: kubelets)
        #expect(fleet.hub.counts.groups == 2, "the kubelets share one group, the apiserver has its own")

        // Step 1 (10%): the kubelet group splits in two; the apiserver is not touched.
        var before = fleet.counts
        let first = try fleet.apply([.putRollout(Self.rollout(step: 0, threshold: 0.1))])
        #expect(first == 2, "the canaries' new group and the rest's; never one per instance")
        #expect(fleet.hub.counts.groups == 3)
        let canaries = Self.between(0, 0.1, of: kubelets)
        #expect(!canaries.isEmpty && canaries.count < kubelets)
        for (id, count) in fleet.counts {
            #expect(count == before[id]! + (canaries.contains(id) ? 1 : 0), "\(id): exactly one delta for a canary, none for the rest")
        }
        for id in canaries { #expect(try fleet.lastR(id) == true) }

        // Step 2 (50%): only the instances it widens to move; the canaries already in are sent nothing.
        before = fleet.counts
        let second = try fleet.apply([.putRollout(Self.rollout(step: 1, threshold: 0.5))])
        #expect(second == 2, "the canaries' group and the rest's, whatever the number of subscribers")
        #expect(fleet.hub.counts.groups == 3, "still one group in and one out")
        let widened = Self.between(0.1, 0.5, of: kubelets)
        #expect(!widened.isEmpty)
        for (id, count) in fleet.counts {
            #expect(count == before[id]! + (widened.contains(id) ? 1 : 0), "\(id)")
        }
        for id in widened { #expect(try fleet.lastR(id) == true) }

        // Rolled back: every canary returns, once; the rest are sent nothing.
        before = fleet.counts
        let back = try fleet.apply([.putRollout(Self.rollout(step: 1, threshold: 0.5, phase: .rolledBack))])
        #expect(back == 1, "only the group they return to; the canaries' group is gone")
        #expect(fleet.hub.counts.groups == 2, "one kubelet group again")
        let returned = Self.between(0, 0.5, of: kubelets)
        for (id, count) in fleet.counts {
            #expect(count == before[id]! + (returned.contains(id) ? 1 : 0), "\(id)")
        }
        for id in returned { #expect(try fleet.lastR(id) == false) }
    }

    /// Which groups a step resolves does not depend on how many instances are subscribed.
    @Test func theGroupsAStepResolvesDoNotGrowWithTheFleet() throws {
        var costs: [Int] = []
        for kubelets in [100, 1000, 4000] {
            var fleet = try Fleet(kubelets: kubelets)
            var cost = try fleet.apply([.putRollout(Self.rollout(step: 0, threshold: 0.1))])
            cost += try fleet.apply([.putRollout(Self.rollout(step: 1, threshold: 0.5))])
            cost += try fleet.apply([.putRollout(Self.rollout(step: 2, threshold: 1, phase: .completed))])
            costs.append(cost)
        }
        #expect(Set(costs).count == 1, "\(costs)")
    }

    @Test func aRolloutWithLabelsMovesOnlyTheInstancesThatRegisteredThem() throws {
        var fleet = try Fleet(kubelets: 60) { index in index % 2 == 0 ? ["zone": "a"] : ["zone": "b"] }
        let before = fleet.counts
        _ = try fleet.apply([.putRollout(Self.rollout(step: 0, threshold: 0.5, labels: ["zone": "a"]))])
        let canaries = Self.between(0, 0.5, of: 60).filter { Int($0.dropFirst())! % 2 == 0 }
        #expect(!canaries.isEmpty)
        for (id, count) in fleet.counts {
            #expect(count == before[id]! + (canaries.contains(id) ? 1 : 0), "\(id)")
        }
    }

    /// A feature's minimum version decides who may be a canary of a rollout
    /// enabling it: raising it above the canaries' version returns them.
    @Test func raisingTheFeaturesMinimumVersionReturnsTheCanariesBelowIt() throws {
        var fleet = try Fleet(kubelets: 60)
        _ = try fleet.apply([.putRollout(Self.rollout(step: 0, threshold: 0.1))])
        _ = try fleet.apply([.putRollout(Self.rollout(step: 1, threshold: 0.5))])
        let canaries = Self.between(0, 0.5, of: 60)
        for id in canaries { #expect(try fleet.lastR(id) == true) }
        let before = fleet.counts
        let raised = FeatureDefinition(name: "R", stage: .beta, defaultEnabled: false, minimumVersions: ["kubelet": try Version(parsing: "1.32.0")])
        _ = try fleet.apply([.defineFeature(raised)])
        #expect(fleet.hub.counts.groups == 2, "no canary left: one kubelet group")
        for id in canaries {
            #expect(fleet.counts[id] == before[id]! + 1)
            #expect(try fleet.lastR(id) == false)
        }
    }

    /// Convergence reads the hub's target per instance: a canary is enabled
    /// and must have applied the revision that moved it, even when its group
    /// was formed by an earlier step.
    @Test func aCanaryTargetsTheRevisionThatMovedIt() throws {
        var fleet = try Fleet(kubelets: 200)
        _ = try fleet.apply([.putRollout(Self.rollout(step: 0, threshold: 0.1))])
        let firstStep = fleet.state.revision
        _ = try fleet.apply([.putRollout(Self.rollout(step: 1, threshold: 0.5))])
        let secondStep = fleet.state.revision
        let early = try #require(Self.between(0, 0.1, of: 200).first)
        let widened = try #require(Self.between(0.1, 0.5, of: 200).first)
        let outside = try #require((0..<200).map { "n\($0)" }.first { !Fleet.inside($0, 0.5) })

        let earlyTarget = try #require(fleet.hub.target(for: Hub.instance("kubelet", early), feature: "R"))
        #expect(earlyTarget.enabled == true && earlyTarget.revision == firstStep)
        let widenedTarget = try #require(fleet.hub.target(for: Hub.instance("kubelet", widened), feature: "R"))
        #expect(widenedTarget.enabled == true && widenedTarget.revision == secondStep, "moved at the second step, into a group formed at the first")
        let outsideTarget = try #require(fleet.hub.target(for: Hub.instance("kubelet", outside), feature: "R"))
        #expect(outsideTarget.enabled == false)
        #expect(fleet.hub.target(for: Hub.instance("kubelet", widened), feature: nil)?.revision == secondStep)
    }

    /// An instance that resumes after missing a step is sent what the step changed for it.
    @Test func aResumeAcrossAStepReplaysTheInstancesCohorts() throws {
        var state = GateState()
        _ = try Hub.commit(Self.catalog.map(Change.defineFeature), to: &state)
        let start = state.revision
        let summary = try Hub.commit([.putRollout(Self.rollout(step: 0, threshold: 0.5))], to: &state)
        let hub = Hub.makeHub(state, history: [summary])
        let canary = try #require((0..<100).map { "n\($0)" }.first { Fleet.inside($0, 0.5) })
        let other = try #require((0..<100).map { "n\($0)" }.first { !Fleet.inside($0, 0.5) })
        for (id, expected) in [(canary, 2), (other, 1)] {
            let writer = Hub.RecordingWriter(loop: EmbeddedEventLoop())
            let outlet = SubscriberOutlet(writer: writer.onLoop, limits: hub.configuration.queue) { _ in }
            let join = try hub.join(Hub.instance("kubelet", id), since: start, outlet: outlet)
            #expect(join.resumed && join.initial.count == expected, "\(id): the step's delta (canary only) and a heartbeat")
        }
    }
}
