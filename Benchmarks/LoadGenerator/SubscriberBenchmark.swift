import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseTLS
import Synchronization

/// How long one change takes to reach N subscribers, each on its own mTLS connection.
struct SubscriberBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribers",
        abstract: "Fan-out latency of one change to N subscribers (one mTLS connection each), server CPU, and server RSS per idle subscriber.",
        discussion: """
            For each count, opens that many connections (TLS sessions resumed after the
            first), subscribes each as an instance of component `bench-fanout`, waits for
            every snapshot, then measures the server's RSS growth per subscriber. Each
            round toggles one feature for the whole component and records when every
            subscriber received the delta: latency from the Set call's ack (as etcd's
            benchmark measures from the put's ack) and from the moment it was sent.

            The server needs --max-connections above the count, and both processes a
            file-descriptor limit above it (ulimit -n). Example:
              gatehouse-load subscribers --config gatehouse-data/admin.conf \\
                  --counts 1000,10000 --rounds 20 --server-pid $(pgrep -f 'gatehouse serve')

            With --spread A,B,C the subscribers connect round-robin to those replicas
            (several servers over one etcd) while the Sets go to the config's server;
            give each replica's --server-pid, and CPU and RSS are summed over them.
            """
    )

    @Option(help: "Client config of an admin (it subscribes on behalf of the bench component).")
    var config: String

    @Option(help: "Subscriber counts to measure, comma separated.")
    var counts = "1000,10000"

    @Option(help: "Changes per count.")
    var rounds = 20

    @Option(help: "Connections opened at once while connecting.")
    var connectConcurrency = 64

    @Option(help: "The server's pid, for its CPU time and RSS; repeat for several replicas (summed).")
    var serverPid: [Int32] = []

    @Option(help: "Replicas (host:port, comma separated) the subscribers connect to round-robin; default: the config's server.")
    var spread: String?

    @Option(help: "Seconds to keep each count's subscribers connected and idle after its rounds (to measure writes meanwhile).")
    var hold = 0.0

    func run() async throws {
        let config = try ClientConfigLoader.load(path: self.config)
        let admin = try await GatehouseClient.connect(config: config, defaultTimeout: .seconds(60))
        try await Writers.defineFeatures(["BenchFanout"], using: admin)
        let tls = try TLSContext.client(
            TLSConfiguration(certificateChainPath: config.certificate, privateKeyPath: config.key, trustRootsPath: config.ca)
        )
        let (host, port) = try config.hostAndPort()
        let targets: [(host: String, port: Int)]
        if let spread = self.spread {
            targets = try spread.split(separator: ",").map { try ClientConfig.parseAddress(String($0)) }
            guard !targets.isEmpty else { throw ValidationError("--spread needs at least one host:port") }
        } else {
            targets = [(host, port)]
        }
        print("subscribers  connect s  RSS KiB/subscriber  p50/p99/max ms from ack  p99 ms from send  server CPU ms/change")
        var enabled = false
        for count in self.counts.split(separator: ",").compactMap({ Int($0) }) {
            let rssBefore = self.summed(ProcessMemory.residentKiB(pid:))
            let arrivals = Arrivals()
            let connectStart = ContinuousClock.now
            let subscribers = try await self.connect(count: count, targets: targets, serverName: config.serverName, tls: tls, arrivals: arrivals)
            try await arrivals.wait(forSnapshots: count)
            let connectSeconds = (ContinuousClock.now - connectStart).milliseconds / 1000
            try await Task.sleep(for: .seconds(2))
            let rssAfter = self.summed(ProcessMemory.residentKiB(pid:))

            let cpuBefore = self.summed(ProcessCPU.seconds(pid:))
            var fromAck: [Double] = []
            var fromSend: [Double] = []
            for _ in 0..<self.rounds {
                enabled.toggle()
                let request = Gatehouse_V1_SetRequest.with {
                    $0.reason = "fan-out benchmark"
                    $0.changes = [.with {
                        $0.feature = "BenchFanout"
                        $0.scope = .with { $0.component = .with { $0.component = "bench-fanout" } }
                        $0.enabled = enabled
                    }]
                }
                let sent = ContinuousClock.now
                let response: Gatehouse_V1_SetResponse = try await admin.connection.unary("/gatehouse.v1.Features/Set", request)
                let acked = ContinuousClock.now
                let times = try await arrivals.wait(for: response.revision, count: count)
                fromAck += times.map { max(0, ($0 - acked).milliseconds) }
                fromSend += times.map { ($0 - sent).milliseconds }
                try await Task.sleep(for: .milliseconds(200))
            }
            let cpuAfter = self.summed(ProcessCPU.seconds(pid:))
            fromAck.sort()
            fromSend.sort()
            var rss = "-"
            if let rssBefore, let rssAfter { rss = String(format: "%.1f", Double(rssAfter - rssBefore) / Double(count)) }
            var cpu = "-"
            if let cpuBefore, let cpuAfter { cpu = String(format: "%.1f", (cpuAfter - cpuBefore) * 1000 / Double(self.rounds)) }
            print(
                String(count).padding(toLength: 13, withPad: " ", startingAt: 0)
                    + String(format: "%9.1f  ", connectSeconds)
                    + rss.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(format: "%6.1f / %6.1f / %6.1f  %16.1f  ",
                             ToggleBenchmark.percentile(fromAck, 0.5), ToggleBenchmark.percentile(fromAck, 0.99), fromAck.last ?? 0,
                             ToggleBenchmark.percentile(fromSend, 0.99))
                    + cpu
            )
            if self.hold > 0 {
                print("holding \(count) idle subscribers for \(self.hold) s")
                try await Task.sleep(for: .milliseconds(Int64(self.hold * 1000)))
            }
            for subscriber in subscribers { subscriber.cancel() }
            try await Task.sleep(for: .seconds(1))
        }
        await admin.close()
    }

    /// A reading summed over every --server-pid; nil when there is none or one cannot be read.
    private func summed<T: AdditiveArithmetic>(_ read: (Int32) -> T?) -> T? {
        guard !self.serverPid.isEmpty else { return nil }
        var total = T.zero
        for pid in self.serverPid {
            guard let value = read(pid) else { return nil }
            total += value
        }
        return total
    }

    /// Opens `count` connections, `connectConcurrency` at a time, round-robin over `targets`, and subscribes on each.
    private func connect(
        count: Int, targets: [(host: String, port: Int)], serverName: String?, tls: TLSContext, arrivals: Arrivals
    ) async throws -> [RPCClientConnection] {
        var connections: [RPCClientConnection] = []
        connections.reserveCapacity(count)
        var next = 0
        while next < count {
            let batch = next..<min(count, next + self.connectConcurrency)
            next = batch.upperBound
            connections += try await withThrowingTaskGroup(of: RPCClientConnection.self) { group in
                for index in batch {
                    group.addTask {
                        let target = targets[index % targets.count]
                        let connection = try await RPCClientConnection.connect(
                            host: target.host, port: target.port, tls: tls, serverHostname: serverName ?? target.host, connectTimeout: .seconds(60)
                        )
                        let stream = try await connection.serverStreaming(
                            "/gatehouse.v1.Components/Subscribe",
                            Gatehouse_V1_SubscribeRequest.with {
                                $0.start = .with {
                                    $0.component = "bench-fanout"
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
                                    switch message.message {
                                    case .snapshot: arrivals.snapshot()
                                    case .delta(let delta): arrivals.delta(delta.revision, at: ContinuousClock.now)
                                    default: break
                                    }
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

extension RPCClientConnection {
    fileprivate func cancel() {
        Task { await self.close() }
    }
}

/// When each subscriber received what, shared by the reader tasks.
final class Arrivals: Sendable {
    private struct State {
        var snapshots = 0
        var deltas: [UInt64: [ContinuousClock.Instant]] = [:]
    }

    private let state = Mutex(State())

    func snapshot() {
        self.state.withLock { $0.snapshots += 1 }
    }

    func delta(_ revision: UInt64, at time: ContinuousClock.Instant) {
        self.state.withLock { $0.deltas[revision, default: []].append(time) }
    }

    func wait(forSnapshots count: Int) async throws {
        try await self.poll("\(count) snapshots") { $0.snapshots >= count }
    }

    /// The arrival times of `revision` once `count` subscribers have it.
    func wait(for revision: UInt64, count: Int) async throws -> [ContinuousClock.Instant] {
        try await self.poll("r\(revision) at \(count) subscribers") { ($0.deltas[revision]?.count ?? 0) >= count }
        return self.state.withLock { $0.deltas.removeValue(forKey: revision) ?? [] }
    }

    private func poll(_ what: String, _ done: (State) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while !self.state.withLock({ done($0) }) {
            guard ContinuousClock.now < deadline else { throw ValidationError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// Resident memory of a process, from /proc.
enum ProcessMemory {
    static func residentKiB(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }
}
