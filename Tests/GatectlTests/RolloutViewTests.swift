import GatehouseClient
import Testing
@testable import gatectl

/// How rollouts read: the per-step progress bars, the list, and the watch's exit status.
@Suite("Rollout view")
struct RolloutViewTests {
    static let now: Int64 = 1_800_000_000_000

    static func rollout(phase: Gatehouse_V1_RolloutPhase, step: UInt32) -> Gatehouse_V1_Rollout {
        .with {
            $0.spec = .with { spec in
                spec.name = "r7"
                spec.target = .with { $0.feature = "InPlacePodVerticalScaling" }
                spec.enabled = true
                spec.component = "kubelet"
                spec.labels = ["zone": "a"]
                spec.minVersion = "1.31.0"
                spec.steps = [1.0, 10, 50, 100].map { percent in .with { $0.percent = percent; $0.bakeMs = 300_000 } }
            }
            $0.phase = phase
            $0.step = step
            $0.createdAtUnixMs = 1_764_936_000_000
            $0.actor = "admin"
            $0.bakeDeadlineUnixMs = phase == .running ? Self.now + 130_000 : 0
            $0.bakeRemainingMs = phase == .paused ? 61_500 : 0
        }
    }

    static func response(phase: Gatehouse_V1_RolloutPhase, step: UInt32 = 1, message: String = "") -> Gatehouse_V1_GetRolloutResponse {
        .with {
            $0.rollout = Self.rollout(phase: phase, step: step)
            $0.rollout.message = message
            $0.selected = 50
            $0.canaries = 5
            $0.acked = 3
            $0.unhealthy = 0
            $0.revision = 44
        }
    }

    @Test("a running rollout: done steps full, the current one filling with acks and its bake left, later ones empty")
    func running() {
        #expect(RolloutView.progress(Self.response(phase: .running), nowUnixMs: Self.now) == [
            "rollout r7: feature InPlacePodVerticalScaling on for kubelet (zone=a, version >= 1.31.0)",
            "running at step 2/4, 50 selected instances, started 2025-12-05T12:00:00Z by admin",
            "step 1/4 1%    [##########] done",
            "step 2/4 10%   [######....] 3/5 canaries acked, 0 unhealthy, bake 2m10s left",
            "step 3/4 50%   [..........]",
            "step 4/4 100%  [..........]",
        ])
    }

    @Test("past the bake deadline the step says baked; with no canaries the bar is empty")
    func baked() {
        var response = Self.response(phase: .running, step: 0)
        response.canaries = 0
        response.acked = 0
        let lines = RolloutView.progress(response, nowUnixMs: Self.now + 200_000)
        #expect(lines[2] == "step 1/4 1%    [..........] 0/0 canaries acked, 0 unhealthy, baked")
    }

    @Test("paused, rolled back, aborted and completed say so where the rollout stands")
    func ended() {
        #expect(RolloutView.progress(Self.response(phase: .paused, message: "look at node-7"), nowUnixMs: Self.now)[3]
            == "step 2/4 10%   [######....] 3/5 canaries acked, 0 unhealthy, paused with 1m2s of bake left: look at node-7")
        #expect(RolloutView.progress(Self.response(phase: .rolledBack, message: "2 of 5 canaries unhealthy: node-3 NACK r41"), nowUnixMs: Self.now)[3]
            == "step 2/4 10%   [######....] rolled back: 2 of 5 canaries unhealthy: node-3 NACK r41")
        #expect(RolloutView.progress(Self.response(phase: .aborted, message: "latency"), nowUnixMs: Self.now)[3]
            == "step 2/4 10%   [######....] aborted: latency")
        let completed = RolloutView.progress(Self.response(phase: .completed, step: 3), nowUnixMs: Self.now)
        #expect(completed.dropFirst(2).prefix(4).allSatisfy { $0.hasSuffix("[##########] done") })
        #expect(completed.last == "completed: in effect on the whole selection")
    }

    @Test("bars round down, so only a finished step is full")
    func bars() {
        #expect(RolloutView.bar(0) == "[..........]")
        #expect(RolloutView.bar(0.99) == "[#########.]")
        #expect(RolloutView.bar(1) == "[##########]")
        #expect(RolloutView.bar(7) == "[##########]")
        #expect(RolloutView.bar(.nan) == "[..........]")
    }

    @Test("sizes, shares and time left read the way they are typed")
    func formats() {
        #expect(Format.percent(10) == "10%")
        #expect(Format.percent(0.5) == "0.5%")
        #expect(Format.percent(33.3333) == "33.333%")
        #expect(RolloutView.size(.with { $0.instances = 1 }) == "1 instance")
        #expect(RolloutView.size(.with { $0.instances = 5 }) == "5 instances")
        #expect(Format.remaining(ms: 0) == "0s")
        #expect(Format.remaining(ms: 1) == "1s")
        #expect(Format.remaining(ms: 130_000) == "2m10s")
        #expect(Format.remaining(ms: 3_605_000) == "1h0m5s")
    }

    @Test("the list: one row per rollout, its target, value, phase and step")
    func list() {
        let response = Gatehouse_V1_ListRolloutsResponse.with {
            $0.rollouts = [
                Self.rollout(phase: .running, step: 1),
                .with {
                    $0.spec = .with { spec in
                        spec.name = "api-1"
                        spec.target = .with { $0.api = .with { $0.group = "batch"; $0.version = "v1beta1" } }
                        spec.enabled = false
                        spec.component = "kube-apiserver"
                        spec.steps = [.with { $0.instances = 2 }]
                    }
                    $0.phase = .aborted
                    $0.message = "bad\nidea"
                },
            ]
        }
        #expect(RolloutView.table(response) == """
            NAME   TARGET                             VALUE  COMPONENT       PHASE    STEP             STARTED               MESSAGE
            r7     feature InPlacePodVerticalScaling  on     kubelet         running  2/4 10%          2025-12-05T12:00:00Z  -
            api-1  api batch/v1beta1                  off    kube-apiserver  aborted  1/1 2 instances  -                     bad\\nidea

            """)
        #expect(RolloutView.table(.init()).hasPrefix("no rollouts match"))
    }

    @Test("an action prints where the rollout now stands")
    func action() {
        let response = Gatehouse_V1_RolloutActionResponse.with {
            $0.rollout = Self.rollout(phase: .paused, step: 1)
            $0.rollout.message = "look"
            $0.revision = 43
        }
        #expect(RolloutView.action(response) == "rollout r7 paused at step 2/4 10% (r43): look\n")
    }

    @Test("the watch ends with 0 completed, 2 rolled back, 3 aborted, and goes on otherwise")
    func exitCodes() {
        #expect(RolloutView.exitCode(.completed) == 0)
        #expect(RolloutView.exitCode(.rolledBack) == 2)
        #expect(RolloutView.exitCode(.aborted) == 3)
        #expect(RolloutView.exitCode(.running) == nil)
        #expect(RolloutView.exitCode(.paused) == nil)
    }

    @Test("the watch tells a change from a poll that only saw the global revision move")
    func watchChanges() {
        var screen = WatchScreen(terminal: false)
        var response = Self.response(phase: .running)
        let first = screen.isNew(WatchScreen.key(response))
        response.revision += 5
        let revisionOnly = screen.isNew(WatchScreen.key(response))
        response.acked = 4
        let acked = screen.isNew(WatchScreen.key(response))
        #expect(first)
        #expect(!revisionOnly)
        #expect(acked)
    }
}

extension RolloutViewTests {
    @Test("after start: what started, its steps, and how to follow it; a dry run says nothing changed")
    func started() {
        var response = Gatehouse_V1_StartRolloutResponse.with {
            $0.rollout = Self.rollout(phase: .running, step: 0)
            $0.rollout.spec.steps[1].maxUnhealthy = 1
            $0.revision = 12
        }
        #expect(RolloutView.started(response, dryRun: false) == """
            rollout r7: feature InPlacePodVerticalScaling on for kubelet (zone=a, version >= 1.31.0) started at r12
            steps: 1% bake 5m → 10% bake 5m max 1 unhealthy → 50% bake 5m → 100% bake 5m
            follow it with: gatectl rollout status r7 --watch

            """)
        response.rollout.spec.name = ""
        #expect(RolloutView.started(response, dryRun: true).hasPrefix(
            "dry run: rollout (named r<revision> when started): feature InPlacePodVerticalScaling on for kubelet (zone=a, version >= 1.31.0) would start (server at r12); nothing changed\nsteps: "))
        #expect(!RolloutView.started(response, dryRun: true).contains("follow it with"))
    }
}

extension RolloutViewTests {
    @Test("on a terminal the watch redraws in place each poll; elsewhere it prints only changes")
    func watchFrames() {
        let response = Self.response(phase: .running)
        let key = WatchScreen.key(response)
        var terminal = WatchScreen(terminal: true)
        #expect(terminal.frame(["a", "b\u{1B}c"], change: key) == "a\nb\\u{1B}c", "no rewind before the first picture; escapes escaped")
        #expect(terminal.frame(["a", "b", "c"], change: key) == "\u{1B}[2A\r\u{1B}[Ja\nb\nc", "up over the 2 lines drawn, cleared")
        #expect(terminal.frame(["a"], change: key) == "\u{1B}[3A\r\u{1B}[Ja")

        var pipe = WatchScreen(terminal: false)
        #expect(pipe.frame(["a", "b"], change: key) == "a\nb\n")
        #expect(pipe.frame(["a", "b (bake ticked)"], change: key) == nil, "the same rollout is not printed again")
        var later = response
        later.acked = 5
        #expect(pipe.frame(["a", "c"], change: WatchScreen.key(later)) == "a\nc\n")
    }
}

extension RolloutViewTests {
    @Test("the watch waits out a server that went away, and nothing else")
    func transientFailures() {
        #expect(RolloutStatus.isTransient(RPCError(.unavailable, "the connection is closed")))
        #expect(RolloutStatus.isTransient(RPCError(.deadlineExceeded, "slow")))
        for code: RPCStatus.Code in [.notFound, .permissionDenied, .unauthenticated, .internal, .invalidArgument, .cancelled] {
            #expect(!RolloutStatus.isTransient(RPCError(code, "x")), "\(code)")
        }
    }

    @Test("after a note on the terminal, the next picture is drawn below it, not over it")
    func interruptedRedraw() {
        let key = WatchScreen.key(Self.response(phase: .running))
        var terminal = WatchScreen(terminal: true)
        _ = terminal.frame(["a", "b"], change: key)
        terminal.interrupted()
        #expect(terminal.frame(["a", "b"], change: key) == "a\nb")
        #expect(terminal.frame(["a", "b"], change: key) == "\u{1B}[2A\r\u{1B}[Ja\nb")
    }
}
