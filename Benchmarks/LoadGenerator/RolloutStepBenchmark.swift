import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseTLS
import Synchronization

/// What a rollout step costs beside a plain component-wide toggle, on the same
/// subscribed fleet in the same run: records written, server CPU, and the time
/// from each commit until every instance it changes has its push.
///
/// Run through `Benchmarks/RolloutStep/run.sh`, which starts a release server
/// for it; the steps are driven by the server's own rollout driver (zero bake,
/// the subscribers ack at once), not by this tool.
struct RolloutStepBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout-step",
        abstract: "A rollout's steps against a plain toggle on N subscribed instances: records written, server CPU, p99 from commit to push.",
        discussion: """
            Subscribes N instances of component `bench-rollout` (one mTLS connection
            each, acking every revision at once, as an SDK does), then:
              (i)  --toggles times, Features/Set of BenchToggle at component scope;
              (ii) one Rollouts/Start of BenchRollout=true on the component, steps
                   --steps (percent, bake 0), left to the server's rollout driver
                   until it completes.
            For every revision committed meanwhile it reads the audit trail
            (Features/History: the entry's commit time and its changes, i.e. the
            records written) and prints one row: instances pushed at that
            revision (and how many the rollout's buckets say should be), server
            CPU from /proc/PID/stat between that commit and the next, and the
            p50/p99/max time from the commit to each instance's push (wall
            clock; the server's commit time is in milliseconds).
            Needs a server with --max-connections above N and ulimit -n above N.
            """
    )

    @Option(help: "Client config of an admin (it subscribes on behalf of the bench component and starts the rollout).")
    var config: String

    @Option(help: "Subscribed instances.")
    var instances = 10_000

    @Option(help: "Component-wide toggles to measure before the rollout.")
    var toggles = 3

    @Option(help: "The rollout's steps, percent, comma separated.")
    var steps = "1,10,50,100"

    @Option(help: "Connections opened at once while connecting.")
    var connectConcurrency = 64

    @Option(help: "The server's pid, for its CPU time.")
    var serverPid: Int32?

    @Option(help: "Seconds the rollout may take before the run fails.")
    var timeout = 300.0

    static let component = "bench-rollout"
    static let toggleFeature = "BenchToggle"
    static let rolloutFeature = "BenchRollout"

    func run() async throws {
        let percents = self.steps.split(separator: ",").compactMap { Double($0) }
        guard !percents.isEmpty else { throw ValidationError("--steps: give percents such as 1,10,50,100") }
        let config = try ClientConfigLoader.load(path: self.config)
        let admin = try await GatehouseClient.connect(config: config, defaultTimeout: .seconds(60))
        try await Writers.defineFeatures([Self.toggleFeature, Self.rolloutFeature], using: admin)
        let tls = try TLSContext.client(
            TLSConfiguration(certificateChainPath: config.certificate, privateKeyPath: config.key, trustRootsPath: config.ca)
        )
        let (host, port) = try config.hostAndPort()
        let cpu = CPUSampler(pid: self.serverPid)
        let sampling = Task { await cpu.run() }
        defer { sampling.cancel() }

        let pushes = Pushes()
        let connectStart = ContinuousClock.now
        let subscribers = try await self.connect(host: host, port: port, serverName: config.serverName ?? host, tls: tls, pushes: pushes)
        try await pushes.wait("\(self.instances) snapshots", timeout: 120) { $0.snapshots >= self.instances }
        print("\(self.instances) instances of \(Self.component) subscribed in \(String(format: "%.1f", (ContinuousClock.now - connectStart).milliseconds / 1000)) s")
        try await Task.sleep(for: .seconds(2))

        var rows: [Row] = []
        // (i) The plain toggle: one record, every instance pushed.
        var enabled = false
        for round in 0..<self.toggles {
            enabled.toggle()
            let response: Gatehouse_V1_SetResponse = try await admin.connection.unary(
                "/gatehouse.v1.Features/Set",
                Gatehouse_V1_SetRequest.with {
                    $0.reason = "rollout-step benchmark: plain toggle"
                    $0.changes = [.with {
                        $0.feature = Self.toggleFeature
                        $0.scope = .with { $0.component = .with { $0.component = Self.component } }
                        $0.enabled = enabled
                    }]
                }
            )
            try await pushes.wait("r\(response.revision) at every instance", timeout: 120) { $0.count(at: response.revision) >= self.instances }
            try await Task.sleep(for: .milliseconds(300))
            let settled = Date().timeIntervalSince1970 * 1000
            let entries = try await Self.history(admin, after: response.revision - 1)
            rows += entries.map { Row(label: "toggle \(round + 1): \($0.changes.first ?? "-")", entry: $0, expected: self.instances, windowEnd: settled) }
        }

        // (ii) The rollout, widened by the server's driver.
        let name = "bench-\(Int64(Date().timeIntervalSince1970 * 1000))"
        let start: Gatehouse_V1_StartRolloutResponse = try await admin.connection.unary(
            "/gatehouse.v1.Rollouts/Start",
            Gatehouse_V1_StartRolloutRequest.with {
                $0.reason = "rollout-step benchmark"
                $0.spec = .with {
                    $0.name = name
                    $0.target = .with { $0.feature = Self.rolloutFeature }
                    $0.enabled = true
                    $0.component = Self.component
                    $0.steps = percents.map { percent in .with { $0.percent = percent; $0.bakeMs = 0 } }
                }
            }
        )
        // Every instance has the feature once the last step is pushed; only then is the rollout
        // asked how it stands (Get reads every instance of the component: polled during the
        // steps, it would take the server's CPU from them).
        try await pushes.wait("\(Self.rolloutFeature) at every instance", timeout: self.timeout) { $0.rolloutPushed.count >= self.instances }
        let deadline = ContinuousClock.now + .milliseconds(Int64(self.timeout * 1000))
        while true {
            let got: Gatehouse_V1_GetRolloutResponse = try await admin.connection.unary(
                "/gatehouse.v1.Rollouts/Get", Gatehouse_V1_GetRolloutRequest.with { $0.name = name }
            )
            switch got.rollout.phase {
            case .completed: break
            case .running, .paused: 
                guard ContinuousClock.now < deadline else { throw ValidationError("the rollout is still \(got.rollout.phase) at step \(got.rollout.step + 1) after \(self.timeout) s") }
                try await Task.sleep(for: .milliseconds(50))
                continue
            case .rolledBack, .aborted, .unspecified, .UNRECOGNIZED:
                throw ValidationError("the rollout ended \(got.rollout.phase): \(got.rollout.message)")
            }
            break
        }
        let settled = Date().timeIntervalSince1970 * 1000
        let entries = try await Self.history(admin, after: start.revision - 1)
        var previous = 0.0
        for (index, entry) in entries.enumerated() {
            // The buckets say which instances each step moves: those between the previous threshold and this one.
            let stored = Self.rollout(in: entry, named: name)
            let threshold = stored.map { ($0["phase"] as? String) == "completed" ? 1 : ($0["threshold"] as? Double ?? previous) } ?? previous
            let expected = (0..<self.instances).count { index in
                let bucket = Rollout.bucket(rollout: name, instanceID: "s\(index)")
                return bucket >= previous && bucket < threshold
            }
            previous = max(previous, threshold)
            // A step's CPU runs until the next transition: its pushes, the acks, the driver's decision.
            let windowEnd = index + 1 < entries.count ? Double(entries[index + 1].timeUnixMs) : settled
            rows.append(Row(label: stored.map(Self.describe) ?? entry.changes.first ?? "-", entry: entry, expected: expected, windowEnd: windowEnd))
        }

        let twice = pushes.state.withLock { $0.rolloutPushedTwice }
        print("")
        print("revision  what                                      records  pushed (expected)  server CPU ms  commit→push p50 / p99 / max ms")
        for row in rows {
            let cpuMs = cpu.seconds(between: row.committedAt, and: row.windowEnd).map { String(format: "%.0f", $0 * 1000) } ?? "-"
            let latencies = pushes.latencies(at: row.revision, since: row.committedAt)
            let timing = latencies.isEmpty ? "-" : String(format: "%.1f / %.1f / %.1f", ToggleBenchmark.percentile(latencies, 0.5), ToggleBenchmark.percentile(latencies, 0.99), latencies.last ?? 0)
            print(
                String(row.revision).padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(row.label.prefix(40)).padding(toLength: 42, withPad: " ", startingAt: 0)
                    + String(row.records).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + "\(latencies.count) (\(row.expected))".padding(toLength: 19, withPad: " ", startingAt: 0)
                    + cpuMs.padding(toLength: 15, withPad: " ", startingAt: 0)
                    + timing
            )
        }
        print("instances pushed \(Self.rolloutFeature) more than once: \(twice)")
        for subscriber in subscribers { Task { await subscriber.close() } }
        await admin.close()
    }

    /// One committed revision: its audit entry and how many instances it should reach.
    struct Row {
        var label: String
        var revision: UInt64
        var committedAt: Double
        var records: Int
        var expected: Int
        /// Where its CPU window ends (wall clock, ms).
        var windowEnd: Double

        init(label: String, entry: Gatehouse_V1_AuditEntry, expected: Int, windowEnd: Double) {
            self.windowEnd = windowEnd
            self.label = label
            self.revision = entry.revision
            self.committedAt = Double(entry.timeUnixMs)
            self.records = entry.changes.count
            self.expected = expected
        }
    }

    /// Every audit entry after `revision`, oldest first: the records the store wrote.
    static func history(_ admin: GatehouseClient, after revision: UInt64) async throws -> [Gatehouse_V1_AuditEntry] {
        try await admin.history(Gatehouse_V1_HistoryRequest.with { $0.afterRevision = revision; $0.limit = 1000 }).entries
    }

    /// The rollout as the entry left it (its after-image, as stored), if the entry wrote it.
    static func rollout(in entry: Gatehouse_V1_AuditEntry, named name: String) -> [String: Any]? {
        guard let data = entry.afterJson.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) else { return nil }
        return Self.find(name, in: object)
    }

    /// Looks through an after-image for the object named `name` that has a threshold.
    private static func find(_ name: String, in object: Any) -> [String: Any]? {
        if let dictionary = object as? [String: Any] {
            if dictionary["name"] as? String == name, dictionary["threshold"] != nil { return dictionary }
            for value in dictionary.values {
                if let found = Self.find(name, in: value) { return found }
            }
        } else if let array = object as? [Any] {
            for value in array {
                if let found = Self.find(name, in: value) { return found }
            }
        }
        return nil
    }

    /// `rollout step 2/4 (10%)` or `rollout completed`, from the stored rollout.
    static func describe(_ rollout: [String: Any]) -> String {
        let phase = rollout["phase"] as? String ?? "?"
        guard phase == "running" else { return "rollout \(phase)" }
        let step = rollout["step"] as? Int ?? 0
        let steps = rollout["steps"] as? [[String: Any]] ?? []
        let size = (steps.indices.contains(step) ? steps[step]["size"] as? [String: Any] : nil)?["percent"].map { "\($0)%" } ?? "?"
        return "rollout step \(step + 1)/\(steps.count) (\(size))"
    }

    /// Opens the subscribers, `connectConcurrency` at a time; each acks every revision it receives.
    private func connect(host: String, port: Int, serverName: String, tls: TLSContext, pushes: Pushes) async throws -> [RPCClientConnection] {
        var connections: [RPCClientConnection] = []
        connections.reserveCapacity(self.instances)
        var next = 0
        while next < self.instances {
            let batch = next..<min(self.instances, next + self.connectConcurrency)
            next = batch.upperBound
            connections += try await withThrowingTaskGroup(of: RPCClientConnection.self) { group in
                for index in batch {
                    group.addTask {
                        let connection = try await RPCClientConnection.connect(host: host, port: port, tls: tls, serverHostname: serverName, connectTimeout: .seconds(60))
                        let stream = try await connection.serverStreaming(
                            "/gatehouse.v1.Components/Subscribe",
                            Gatehouse_V1_SubscribeRequest.with {
                                $0.start = .with {
                                    $0.component = Self.component
                                    $0.instanceID = "s\(index)"
                                    $0.version = "1.0.0"
                                }
                            },
                            as: Gatehouse_V1_SubscribeResponse.self,
                            endStream: false
                        )
                        Task {
                            do {
                                for try await message in stream {
                                    let revision: UInt64
                                    switch message.message {
                                    case .snapshot(let snapshot):
                                        pushes.snapshot()
                                        revision = snapshot.revision
                                    case .delta(let delta):
                                        pushes.delta(delta.revision, instance: index, rollout: delta.features.contains { $0.name == Self.rolloutFeature })
                                        revision = delta.revision
                                    default:
                                        continue
                                    }
                                    // Acked at once, as an SDK that applies instantly would: the driver widens on acks.
                                    try await stream.send(Gatehouse_V1_SubscribeRequest.with { $0.ack = .with { $0.revision = revision } })
                                }
                            } catch {}
                        }
                        return connection
                    }
                }
                var opened: [RPCClientConnection] = []
                for try await connection in group { opened.append(connection) }
                return opened
            }
        }
        return connections
    }
}

/// What the subscribers received and when (wall clock, milliseconds), shared by their reader tasks.
final class Pushes: Sendable {
    struct State {
        var snapshots = 0
        var arrivals: [UInt64: [Double]] = [:]
        /// Instances that were pushed the rollout's feature, and how many were pushed it twice.
        var rolloutPushed: Set<Int> = []
        var rolloutPushedTwice = 0

        func count(at revision: UInt64) -> Int { self.arrivals[revision]?.count ?? 0 }
    }

    let state = Mutex(State())

    func snapshot() {
        self.state.withLock { $0.snapshots += 1 }
    }

    func delta(_ revision: UInt64, instance: Int, rollout: Bool) {
        let now = Date().timeIntervalSince1970 * 1000
        self.state.withLock { state in
            state.arrivals[revision, default: []].append(now)
            if rollout && !state.rolloutPushed.insert(instance).inserted { state.rolloutPushedTwice += 1 }
        }
    }

    /// Milliseconds from `committedAt` to each push of `revision`, sorted.
    func latencies(at revision: UInt64, since committedAt: Double) -> [Double] {
        self.state.withLock { $0.arrivals[revision] ?? [] }.map { max(0, $0 - committedAt) }.sorted()
    }

    func wait(_ what: String, timeout: Double, _ done: (State) -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while !self.state.withLock({ done($0) }) {
            guard ContinuousClock.now < deadline else { throw ValidationError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// The server's CPU time sampled every few milliseconds against the wall clock,
/// so a window between two commits can be read afterwards.
final class CPUSampler: Sendable {
    private let pid: Int32?
    private let samples = Mutex<[(wall: Double, cpu: Double)]>([])

    init(pid: Int32?) {
        self.pid = pid
    }

    func run() async {
        guard let pid = self.pid else { return }
        while !Task.isCancelled {
            if let cpu = ProcessCPU.seconds(pid: pid) {
                let wall = Date().timeIntervalSince1970 * 1000
                self.samples.withLock { $0.append((wall, cpu)) }
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// CPU seconds used between two wall-clock times (the samples nearest before each).
    func seconds(between start: Double, and end: Double) -> Double? {
        self.samples.withLock { samples in
            guard let first = samples.last(where: { $0.wall <= start }), let last = samples.last(where: { $0.wall <= end }) ?? samples.last else { return nil }
            return last.cpu - first.cpu
        }
    }
}
