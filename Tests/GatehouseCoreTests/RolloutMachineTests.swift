import Testing

@testable import GatehouseCore

/// The rollout state machine (DESIGN rule 4) driven by a manual clock: every time is a number the test picks.
@Suite struct RolloutMachineTests {
    static let t0 = UnixMilliseconds(1_700_000_000_000)
    static let ids = (0..<40).map { "node-\($0)" }

    static func spec(
        steps: [RolloutStep] = [
            RolloutStep(size: .percent(10), bake: 1_000),
            RolloutStep(size: .instances(8), bake: 500, maxUnhealthy: 1),
            RolloutStep(size: .percent(100), bake: 0),
        ],
        target: RolloutTarget = .feature("B"),
        grace: Int64 = 30_000
    ) -> Rollout {
        Rollout(name: "r7", target: target, enabled: true, component: "kubelet", steps: steps, disconnectGrace: grace, actor: "alice")
    }

    static func buckets(_ rollout: Rollout) -> [Double] {
        Self.ids.map(rollout.bucket(of:))
    }

    /// A started rollout whose start the applier stamped at `revision`.
    static func started(_ spec: Rollout = Self.spec(), revision: Revision = 10) -> Rollout {
        var rollout = RolloutMachine.start(spec, at: Self.t0, selection: Self.buckets(spec))
        rollout.stepRevision = revision
        return rollout
    }

    /// Observations of every current canary: connected, and acked `acked`.
    static func canaries(_ rollout: Rollout, acked: Revision? = nil) -> [CanaryObservation] {
        Self.ids.filter { rollout.bucket(of: $0) < rollout.threshold }.map {
            CanaryObservation(instanceID: $0, bucket: rollout.bucket(of: $0), ackedRevision: acked ?? rollout.stepRevision)
        }
    }

    static func tick(_ rollout: Rollout, at time: UnixMilliseconds, _ canaries: [CanaryObservation]? = nil, serverStartedAt: UnixMilliseconds = t0) -> RolloutMachine.Tick {
        RolloutMachine.tick(rollout, at: time, serverStartedAt: serverStartedAt, canaries: canaries ?? Self.canaries(rollout), selection: Self.buckets(rollout))
    }

    @Test func aHealthyRolloutWidensThroughEveryStepAndCompletes() throws {
        var rollout = Self.started()
        #expect(rollout.phase == .running)
        #expect(rollout.threshold == 0.1)
        #expect(rollout.bakeDeadline == Self.t0.advanced(by: 1_000))

        let early = Self.tick(rollout, at: Self.t0.advanced(by: 999))
        #expect(early.next == nil)
        #expect(early.recheckAt == Self.t0.advanced(by: 1_000), "look again when the bake ends")
        #expect(early.waitingFor.contains("bake"))

        // Step 2: exactly 8 of the 40 selected instances.
        var next = try #require(Self.tick(rollout, at: Self.t0.advanced(by: 1_000)).next)
        #expect(next.step == 1)
        #expect(next.stepStartedAt == Self.t0.advanced(by: 1_000))
        #expect(next.bakeDeadline == Self.t0.advanced(by: 1_500))
        let previous = Self.ids.filter { rollout.bucket(of: $0) < rollout.threshold }
        let covered = Self.ids.filter { next.bucket(of: $0) < next.threshold }
        #expect(covered.count == max(8, previous.count))
        #expect(Set(previous).isSubset(of: Set(covered)), "a canary stays one")
        next.stepRevision = 11
        rollout = next

        // Canaries of the new step have not acked its revision: the step holds past its bake.
        let unacked = Self.tick(rollout, at: Self.t0.advanced(by: 9_000), Self.canaries(rollout, acked: 10))
        #expect(unacked.next == nil)
        #expect(unacked.verdicts.allSatisfy { $0.state == .pending && !$0.acked })
        #expect(unacked.waitingFor.contains("to ack r11"))

        next = try #require(Self.tick(rollout, at: Self.t0.advanced(by: 1_500)).next)
        #expect(next.step == 2)
        #expect(next.threshold == 1)
        next.stepRevision = 12
        rollout = next

        let done = try #require(Self.tick(rollout, at: Self.t0.advanced(by: 1_500)).next, "bake 0: widens as soon as all acked")
        #expect(done.phase == .completed)
        #expect(done.threshold == 1)
        #expect(done.bakeDeadline == nil)
        #expect(Self.tick(done, at: Self.t0.advanced(by: 99_000)).next == nil, "a completed rollout does not tick")
    }

    @Test func instanceStepsCoverExactlyNAndNeverShrink() {
        let buckets = [0.5, 0.1, 0.9, 0.3, 0.7]
        let three = RolloutMachine.threshold(for: .instances(3), after: 0, selection: buckets)
        #expect(buckets.filter { $0 < three }.count == 3)
        #expect(RolloutMachine.threshold(for: .instances(3), after: 0.8, selection: buckets) == 0.8, "never below the previous")
        let all = RolloutMachine.threshold(for: .instances(9), after: 0, selection: buckets)
        #expect(buckets.allSatisfy { $0 < all }, "more than selected: all of them")
        #expect(RolloutMachine.threshold(for: .instances(2), after: 0, selection: []) == 0)
        #expect(RolloutMachine.threshold(for: .percent(100), after: 0.3, selection: []) == 1)
        #expect(RolloutMachine.threshold(for: .percent(25), after: 0.3, selection: []) == 0.3)
    }

    @Test func pauseAndResumeKeepTheRemainingBake() throws {
        let rollout = Self.started()
        let paused = try RolloutMachine.pause(rollout, at: Self.t0.advanced(by: 300), reason: "looking at dashboards")
        #expect(paused.phase == .paused)
        #expect(paused.bakeRemaining == 700)
        #expect(paused.bakeDeadline == nil)
        #expect(paused.message == "looking at dashboards")
        #expect(Self.tick(paused, at: Self.t0.advanced(by: 50_000)).next == nil, "a paused rollout does not widen")

        let resumed = try RolloutMachine.resume(paused, at: Self.t0.advanced(by: 5_000))
        #expect(resumed.phase == .running)
        #expect(resumed.bakeDeadline == Self.t0.advanced(by: 5_700))
        #expect(resumed.bakeRemaining == nil)
        #expect(resumed.message == "")
        #expect(Self.tick(resumed, at: Self.t0.advanced(by: 5_699)).next == nil)
        #expect(Self.tick(resumed, at: Self.t0.advanced(by: 5_700)).next?.step == 1)

        // Paused after the deadline: nothing left, widens as soon as resumed.
        let late = try RolloutMachine.pause(rollout, at: Self.t0.advanced(by: 4_000), reason: "")
        #expect(late.bakeRemaining == 0)
        #expect(late.message == "paused")
    }

    @Test func illegalActionsAreRefusedNamingThePhase() throws {
        let running = Self.started()
        let paused = try RolloutMachine.pause(running, at: Self.t0, reason: "x")
        let completed = try RolloutMachine.promote(paused)
        #expect(completed.phase == .completed && completed.threshold == 1 && completed.step == 2)
        let aborted = try RolloutMachine.abort(completed, reason: "", actor: "bob")
        #expect(aborted.phase == .aborted && aborted.message == "aborted by bob")
        var rolledBack = running
        rolledBack.phase = .rolledBack

        let refusals: [(String, () throws(GateError) -> Rollout, RolloutPhase)] = [
            ("resume a running one", { () throws(GateError) in try RolloutMachine.resume(running, at: Self.t0) }, .running),
            ("pause a paused one", { () throws(GateError) in try RolloutMachine.pause(paused, at: Self.t0, reason: "") }, .paused),
            ("promote a completed one", { () throws(GateError) in try RolloutMachine.promote(completed) }, .completed),
            ("pause a completed one", { () throws(GateError) in try RolloutMachine.pause(completed, at: Self.t0, reason: "") }, .completed),
            ("abort an aborted one", { () throws(GateError) in try RolloutMachine.abort(aborted, reason: "", actor: "bob") }, .aborted),
            ("resume a rolled back one", { () throws(GateError) in try RolloutMachine.resume(rolledBack, at: Self.t0) }, .rolledBack),
        ]
        for (what, action, phase) in refusals {
            do {
                _ = try action()
                Issue.record("\(what) was allowed")
            } catch {
                #expect(error.reason == .rolloutState, "\(what)")
                #expect(error.code == .failedPrecondition)
                #expect(error.metadata == ["rollout": "r7", "phase": phase.rawValue])
                #expect(error.message.contains(phase == .rolledBack ? "rolled back" : phase.rawValue), "\(what): \(error.message)")
            }
        }
        #expect(try RolloutMachine.abort(running, reason: "bad latency", actor: "bob").message == "bad latency")
        #expect(try RolloutMachine.promote(running).phase == .completed)
    }

    @Test func aNackOfTheStepsRevisionRollsBack() throws {
        let rollout = Self.started()
        var canaries = Self.canaries(rollout)
        try #require(canaries.count >= 2)
        canaries[0].nack = CanaryObservation.Nack(revision: 9, reason: "OLD")
        #expect(Self.tick(rollout, at: Self.t0.advanced(by: 1_000), canaries).next?.step == 1, "a NACK of an earlier revision is not about this step")

        canaries[0].nack = CanaryObservation.Nack(revision: 41, reason: "UNKNOWN_FEATURE")
        let tick = Self.tick(rollout, at: Self.t0.advanced(by: 10), canaries)
        let next = try #require(tick.next)
        #expect(next.phase == .rolledBack)
        #expect(next.bakeDeadline == nil)
        #expect(next.message == "1 of \(canaries.count) canaries unhealthy: \(canaries[0].instanceID) NACK r41 UNKNOWN_FEATURE")
        #expect(Self.tick(next, at: Self.t0.advanced(by: 20), canaries).next == nil, "rolled back is final")
    }

    @Test func anUnhealthyReportBlamingTheTargetOrNothingRollsBack() throws {
        let rollout = Self.started(Self.spec(target: .api(APIRef(group: "batch", version: "v1beta1"))))
        var canaries = Self.canaries(rollout)
        try #require(!canaries.isEmpty)
        canaries[0].health = CanaryObservation.Health(healthy: false, entries: ["SomethingElse", "apps/v1"], message: "unrelated")
        #expect(Self.tick(rollout, at: Self.t0.advanced(by: 1_000), canaries).next?.step == 1, "blaming something else")
        for entries in [[], ["batch/v1beta1"], ["batch/v1beta1/cronjobs"]] {
            canaries[0].health = CanaryObservation.Health(healthy: false, entries: entries, message: "5xx rate 12%")
            let next = try #require(Self.tick(rollout, at: Self.t0.advanced(by: 10), canaries).next)
            #expect(next.phase == .rolledBack, "entries \(entries)")
            #expect(next.message.hasSuffix("\(canaries[0].instanceID) reported unhealthy: 5xx rate 12%"))
        }
        canaries[0].health = CanaryObservation.Health(healthy: true, entries: ["batch/v1beta1"])
        #expect(Self.tick(rollout, at: Self.t0.advanced(by: 1_000), canaries).next?.step == 1)
    }

    @Test func upToMaxUnhealthyHoldsTheStepAndOneMoreRollsBack() throws {
        // Step 2 tolerates one unhealthy canary.
        var rollout = try #require(Self.tick(Self.started(), at: Self.t0.advanced(by: 1_000)).next)
        rollout.stepRevision = 11
        var canaries = Self.canaries(rollout)
        canaries[0].health = CanaryObservation.Health(healthy: false)
        let held = Self.tick(rollout, at: Self.t0.advanced(by: 60_000), canaries)
        #expect(held.next == nil)
        #expect(held.verdicts.filter { $0.state == .unhealthy }.map(\.instanceID) == [canaries[0].instanceID])
        #expect(held.waitingFor.contains("tolerated"))
        canaries[1].nack = CanaryObservation.Nack(revision: 11, reason: "INVALID_PARAMETER")
        let next = try #require(Self.tick(rollout, at: Self.t0.advanced(by: 60_000), canaries).next)
        #expect(next.phase == .rolledBack)
        #expect(next.message.hasPrefix("2 of \(canaries.count) canaries unhealthy: "))
    }

    @Test func aCanaryDisconnectedPastItsGraceRollsBack() throws {
        let rollout = Self.started()
        var canaries = Self.canaries(rollout)
        canaries[0].connected = false
        canaries[0].disconnectedAt = Self.t0.advanced(by: 100)
        let within = Self.tick(rollout, at: Self.t0.advanced(by: 30_100), canaries)
        #expect(within.next == nil, "within the grace it holds the step")
        #expect(within.recheckAt == Self.t0.advanced(by: 30_101), "and says when the grace runs out")
        let next = try #require(Self.tick(rollout, at: Self.t0.advanced(by: 30_101), canaries).next)
        #expect(next.phase == .rolledBack)
        #expect(next.message.contains("\(canaries[0].instanceID) disconnected for 30s"))
    }

    @Test func aCanaryDownSinceBeforeTheStepIsIgnored() throws {
        let rollout = Self.started()
        var canaries = Self.canaries(rollout)
        canaries[0].connected = false
        canaries[0].disconnectedAt = Self.t0.advanced(by: -1)
        canaries[0].ackedRevision = .zero
        let tick = Self.tick(rollout, at: Self.t0.advanced(by: 1_000_000), canaries)
        #expect(tick.verdicts.first { $0.instanceID == canaries[0].instanceID }?.state == .ignored)
        #expect(tick.next?.step == 1, "counted neither way: it neither rolls back nor holds the step")
    }

    @Test func aRestartedServerResumesTheSameStepWithTheRemainingBake() throws {
        // The record as stored before the restart: step 2, its bake ending at t0 + 1,500.
        var stored = try #require(Self.tick(Self.started(), at: Self.t0.advanced(by: 1_000)).next)
        stored.stepRevision = 11
        let restart = Self.t0.advanced(by: 1_200)
        // The canaries reconnected and acked; the same record ticked later resumes where it was.
        let before = Self.tick(stored, at: restart.advanced(by: 100), serverStartedAt: restart)
        #expect(before.next == nil)
        #expect(before.recheckAt == Self.t0.advanced(by: 1_500), "the same deadline: 200 ms of bake left")
        #expect(Self.tick(stored, at: Self.t0.advanced(by: 1_500), serverStartedAt: restart).next?.step == 2)

        // A canary the new server has not seen yet: its grace counts from the server's start, not from the step's.
        // (Two of them: the step tolerates one unhealthy canary.)
        var canaries = Self.canaries(stored)
        for index in 0..<2 {
            canaries[index].connected = false
            canaries[index].disconnectedAt = nil
        }
        #expect(Self.tick(stored, at: restart.advanced(by: 30_000), canaries, serverStartedAt: restart).next == nil)
        #expect(Self.tick(stored, at: restart.advanced(by: 30_001), canaries, serverStartedAt: restart).next?.phase == .rolledBack)
    }

    @Test func onlyCanariesBelowTheThresholdAreJudged() {
        let rollout = Self.started()
        let outsider = Self.ids.first { rollout.bucket(of: $0) >= rollout.threshold }!
        var canaries = Self.canaries(rollout)
        canaries.append(CanaryObservation(instanceID: outsider, bucket: rollout.bucket(of: outsider), nack: .init(revision: 99, reason: "X")))
        let tick = Self.tick(rollout, at: Self.t0.advanced(by: 1_000), canaries)
        #expect(!tick.verdicts.contains { $0.instanceID == outsider })
        #expect(tick.next?.step == 1)
    }
}
