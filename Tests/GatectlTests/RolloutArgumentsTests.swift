import ArgumentParser
import GatehouseClient
import Testing
@testable import gatectl

/// `gatectl rollout` argument parsing: what reaches the server, and the usage errors that never do.
@Suite("Rollout arguments")
struct RolloutArgumentsTests {
    @Test("percent steps, with the bake and the unhealthy limit on every step")
    func percentSteps() throws {
        let steps = try RolloutArguments.steps("1%,10%,50%,100%", bakeMs: 300_000, maxUnhealthy: 2)
        #expect(steps.map(\.size) == [.percent(1), .percent(10), .percent(50), .percent(100)])
        #expect(steps.allSatisfy { $0.bakeMs == 300_000 && $0.maxUnhealthy == 2 })
    }

    @Test("counts and shares mix, each kind non-decreasing on its own")
    func mixedSteps() throws {
        let steps = try RolloutArguments.steps("1, 5,0.5%,50%,100%", bakeMs: 0, maxUnhealthy: 0)
        #expect(steps.map(\.size) == [.instances(1), .instances(5), .percent(0.5), .percent(50), .percent(100)])
    }

    @Test("bad step lists are usage errors that show the expected form", arguments: [
        ("", "comma-separated"),
        ("1%,,100%", "comma-separated"),
        ("0%", "(0%, 100%]"),
        ("101%", "(0%, 100%]"),
        ("ten%", "(0%, 100%]"),
        ("0", "at least 1"),
        ("-3", "neither a share"),
        ("10%,5%", "must not decrease"),
        ("5,3", "must not decrease"),
        (Array(repeating: "100%", count: 17).joined(separator: ","), "at most 16"),
    ])
    func badSteps(text: String, words: String) {
        #expect {
            _ = try RolloutArguments.steps(text, bakeMs: 0, maxUnhealthy: 0)
        } throws: { error in
            (error as? ValidationError)?.message.contains(words) == true
        }
    }

    @Test("durations in h, m, s, ms and d; a bare number other than 0 is refused")
    func durations() throws {
        #expect(try RolloutArguments.durationMs("5m", option: "--bake") == 300_000)
        #expect(try RolloutArguments.durationMs("1h30m", option: "--bake") == 5_400_000)
        #expect(try RolloutArguments.durationMs("250ms", option: "--bake") == 250)
        #expect(try RolloutArguments.durationMs("7d", option: "--bake") == 604_800_000)
        #expect(try RolloutArguments.durationMs("0", option: "--bake") == 0)
        for bad in ["", "5", "5x", "m", "1h-5m", "99999999999999999999h"] {
            #expect(throws: ValidationError.self, "\(bad)") { try RolloutArguments.durationMs(bad, option: "--bake") }
        }
    }

    @Test("labels are key=value, each key once")
    func labels() throws {
        #expect(try RolloutArguments.labels(["zone=a", "tier=gold=1"]) == ["zone": "a", "tier": "gold=1"])
        #expect(throws: ValidationError.self) { try RolloutArguments.labels(["zone"]) }
        #expect(throws: ValidationError.self) { try RolloutArguments.labels(["=a"]) }
        #expect(throws: ValidationError.self) { try RolloutArguments.labels(["zone=a", "zone=b"]) }
    }

    @Test("a whole start command becomes one Start request")
    func startRequest() throws {
        let command = try RolloutStart.parse([
            "GracefulNodeShutdown", "--component", "kubelet", "--disable",
            "--label", "zone=eu-west-1a", "--min-version", "1.31.0",
            "--steps", "1,10%,100%", "--bake", "10m", "--max-unhealthy", "1",
            "--disconnect-grace", "45s", "--name", "gns-1", "--reason", "longer drains", "--dry-run",
        ])
        let request = try command.request()
        #expect(request.reason == "longer drains")
        #expect(request.dryRun)
        let spec = request.spec
        #expect(spec.name == "gns-1")
        #expect(spec.target.target == .feature("GracefulNodeShutdown"))
        #expect(!spec.enabled)
        #expect(spec.component == "kubelet")
        #expect(spec.labels == ["zone": "eu-west-1a"])
        #expect(spec.minVersion == "1.31.0")
        #expect(spec.steps.map(\.size) == [.instances(1), .percent(10), .percent(100)])
        #expect(spec.steps.allSatisfy { $0.bakeMs == 600_000 && $0.maxUnhealthy == 1 })
        #expect(spec.disconnectGraceMs == 45_000)
    }

    @Test("an API rollout, enabling, with the defaults: 5m bake, none unhealthy, the server's grace and name")
    func apiStartDefaults() throws {
        let request = try RolloutStart.parse(["--api", "batch/v1beta1", "--component", "kube-apiserver", "--steps", "100%", "--reason", "r"]).request()
        #expect(request.spec.target.target == .api(.with { $0.group = "batch"; $0.version = "v1beta1" }))
        #expect(request.spec.enabled)
        #expect(request.spec.name.isEmpty)
        #expect(request.spec.disconnectGraceMs == 0)
        #expect(request.spec.steps.first?.bakeMs == 300_000)
        #expect(request.spec.steps.first?.maxUnhealthy == 0)
        #expect(!request.dryRun)
    }

    @Test("start refuses, before any call, what the server would only refuse later", arguments: [
        (["--component", "kubelet", "--steps", "100%", "--reason", "r"], "say what to roll out"),
        (["F", "--api", "batch/v1", "--component", "kubelet", "--steps", "100%", "--reason", "r"], "not both"),
        (["--api", "batch/v1", "--param", "a=1", "--component", "kubelet", "--steps", "100%", "--reason", "r"], "features only"),
        (["--api", "batch/", "--component", "kubelet", "--steps", "100%", "--reason", "r"], "--api: invalid API"),
        (["F", "--component", "kubelet", "--steps", "100%", "--reason", "  "], "--reason must say why"),
        (["F", "--component", "kubelet", "--steps", "100%", "--bake", "soon", "--reason", "r"], "--bake expects a duration"),
        (["F", "--component", "kubelet", "--steps", "100%", "--param", "novalue", "--reason", "r"], "name=value"),
    ])
    func startRefusals(arguments: [String], words: String) {
        #expect {
            _ = try RolloutStart.parse(arguments)
        } throws: { error in
            RolloutStart.message(for: error).contains(words)
        }
    }

    @Test("start needs --component, --steps and --reason")
    func startRequired() {
        for missing in ["--component", "--steps", "--reason"] {
            var arguments = ["F", "--component", "kubelet", "--steps", "100%", "--reason", "r"]
            let index = arguments.firstIndex(of: missing)!
            arguments.removeSubrange(index...(index + 1))
            #expect(throws: (any Error).self, "without \(missing)") { _ = try RolloutStart.parse(arguments) }
        }
    }

    @Test("status takes --watch and an --interval of at least 100ms")
    func status() throws {
        let command = try RolloutStatus.parse(["r42", "--watch", "--interval", "10s", "-o", "json"])
        #expect(command.name == "r42")
        #expect(command.watch)
        #expect(command.global.output == .json)
        #expect(throws: (any Error).self) { _ = try RolloutStatus.parse(["r42", "--interval", "50ms"]) }
        #expect(!(try RolloutStatus.parse(["r42"])).watch)
    }

    @Test("pause, resume, promote and abort need a name and a reason")
    func actions() throws {
        #expect(try RolloutAbort.parse(["r42", "--reason", "latency"]).options.reason == "latency")
        #expect(try RolloutPause.parse(["r42", "--reason", "look"]).options.name == "r42")
        #expect(throws: (any Error).self) { _ = try RolloutResume.parse(["r42"]) }
        #expect(throws: (any Error).self) { _ = try RolloutPromote.parse(["--reason", "x"]) }
        #expect(throws: (any Error).self) { _ = try RolloutAbort.parse(["r42", "--reason", " "]) }
    }

    @Test("list filters become the List request")
    func list() throws {
        let request = try RolloutList.parse(["--component", "kubelet", "--feature", "X", "--active", "-o", "yaml"]).request
        #expect(request.component == "kubelet")
        #expect(request.feature == "X")
        #expect(request.activeOnly)
        #expect(try RolloutList.parse([]).request == Gatehouse_V1_ListRolloutsRequest())
    }

    @Test("the rollout group is a gatectl subcommand")
    func registered() throws {
        let command = try Gatectl.parseAsRoot(["rollout", "abort", "r1", "--reason", "x"])
        #expect(command is RolloutAbort)
    }
}
