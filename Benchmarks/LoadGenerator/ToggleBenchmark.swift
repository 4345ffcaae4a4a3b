import ArgumentParser
import Foundation
import GatehouseClient

/// Durable toggles per second and latency at several writer counts.
struct ToggleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toggles",
        abstract: "Durable toggles/s and p50/p99 latency at 1, 16, 64, 256 concurrent writers over mTLS.",
        discussion: """
            Each writer toggles its own instance override in a loop, one Set call at a time.
            By default every writer has its own connection, as separate clients would. With
            --connections N the writers share N connections round robin, their calls
            multiplexed as streams (as etcd's benchmark shares --conns among --clients); the
            server's --max-calls-per-connection must allow writers/N calls on each.
            """
    )

    @Option(help: "Client config of an admin (the benchmark first defines its feature, BenchToggle).")
    var config: String

    @Option(help: "Writer counts to measure, comma separated.")
    var writers = "1,16,64,256"

    @Option(help: "Seconds per writer count.")
    var seconds = 10.0

    @Option(help: "Connections the writers share, round robin; 0 gives each writer its own.")
    var connections = 0

    @Option(help: "Instance overrides to set first (on another component), to see how toggles scale with the state's size.")
    var preloadOverrides = 0

    @Option(help: "The server's pid, to report its CPU time per toggle.")
    var serverPid: Int32?

    func run() async throws {
        let counts = self.writers.split(separator: ",").compactMap { Int($0) }
        let setup = try await Writers.connect(count: 1, configPath: self.config)
        try await Writers.defineFeatures(["BenchToggle"], using: setup[0])
        try await Writers.preloadOverrides(self.preloadOverrides, feature: "BenchToggle", using: setup[0])
        await setup[0].close()
        print(self.connections > 0 ? "writers share up to \(self.connections) connections" : "one connection per writer")
        print("writers  toggles/s   p50 ms   p99 ms   server CPU µs/toggle   load generator CPU µs/toggle")
        for count in counts {
            let connectionCount = self.connections > 0 ? min(self.connections, count) : count
            let clients = try await Writers.connect(count: connectionCount, configPath: self.config)
            let cpuBefore = self.serverPid.flatMap(ProcessCPU.seconds(pid:))
            let ownBefore = ProcessCPU.seconds(pid: getpid())
            let started = ContinuousClock.now
            let deadline = started + .milliseconds(Int64(self.seconds * 1000))
            let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                for index in 0..<count {
                    let client = clients[index % clients.count]
                    group.addTask {
                        var samples: [Double] = []
                        var on = false
                        while ContinuousClock.now < deadline {
                            on.toggle()
                            let request = Writers.setRequest(
                                features: ["BenchToggle"], component: "bench", instance: "w\(index)", enabled: on, reason: "benchmark"
                            )
                            let begin = ContinuousClock.now
                            let _: Gatehouse_V1_SetResponse = try await client.connection.unary("/gatehouse.v1.Features/Set", request)
                            samples.append((ContinuousClock.now - begin).milliseconds)
                        }
                        return samples
                    }
                }
                var all: [Double] = []
                for try await samples in group { all += samples }
                return all.sorted()
            }
            let elapsed = (ContinuousClock.now - started).milliseconds / 1000
            let cpuAfter = self.serverPid.flatMap(ProcessCPU.seconds(pid:))
            let ownAfter = ProcessCPU.seconds(pid: getpid())
            let rate = Double(latencies.count) / elapsed
            let cpu = Self.microsecondsPerToggle(before: cpuBefore, after: cpuAfter, toggles: latencies.count)
            let own = Self.microsecondsPerToggle(before: ownBefore, after: ownAfter, toggles: latencies.count)
            print(
                String(count).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(format: "%9.0f  %7.2f  %7.2f   ", rate, Self.percentile(latencies, 0.50), Self.percentile(latencies, 0.99))
                    + cpu.padding(toLength: 23, withPad: " ", startingAt: 0) + own
            )
            for client in clients { await client.close() }
        }
    }

    static func microsecondsPerToggle(before: Double?, after: Double?, toggles: Int) -> String {
        guard let before, let after else { return "-" }
        return String(format: "%.0f", (after - before) / Double(max(toggles, 1)) * 1_000_000)
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

extension Duration {
    var milliseconds: Double {
        Double(self.components.seconds) * 1000 + Double(self.components.attoseconds) / 1e15
    }
}

/// CPU time (user + system) a process has used, from /proc.
enum ProcessCPU {
    static func seconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14, stime 15 (1-based) → indices 11, 12 here.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
