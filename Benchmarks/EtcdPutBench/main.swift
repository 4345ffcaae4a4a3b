import ArgumentParser
import EtcdProto
import Foundation
import GatehouseEtcd
import NIOCore

/// `etcd-put-bench`: etcd's own put rate through Gatehouse's etcd client, the
/// baseline the etcd backend's write rate is compared with
/// (Benchmarks/EtcdComparison/run-etcd-backend.sh). N writers share the one
/// client (one connection, one HTTP/2 stream per put, as the store's commits
/// do) and put for S seconds; prints puts/s, p50 and p99. Asserts nothing.
@main
struct EtcdPutBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-put-bench",
        abstract: "Concurrent Puts to etcd over Gatehouse's etcd client; prints puts/s, p50, p99.",
        discussion: """
            Example, against Scripts/etcd-cluster.sh's cluster:
              etcd-put-bench --endpoints https://127.0.0.1:2379,https://127.0.0.1:2381,https://127.0.0.1:2383 \\
                --ca DIR/pki/ca.pem --cert DIR/pki/client.pem --key DIR/pki/client-key.pem --writers 64 --seconds 5
            """
    )

    @Option(help: "etcd client URLs, comma-separated https://host:port.")
    var endpoints: String

    @Option(help: "PEM CA that signed the members' certificates.")
    var ca: String

    @Option(help: "PEM client certificate.")
    var cert: String

    @Option(help: "PEM key of --cert.")
    var key: String

    @Option(help: "Concurrent writers.")
    var writers = 64

    @Option(help: "How long to write, in seconds.")
    var seconds = 5.0

    @Option(help: "Bytes per value.")
    var valueSize = 8

    @Option(help: "Keys are <prefix><writer>/<n>; the range is deleted afterwards.")
    var prefix = "/etcd-put-bench/"

    func validate() throws {
        guard self.writers > 0 else { throw ValidationError("--writers must be at least 1") }
        guard self.seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard self.valueSize >= 0 else { throw ValidationError("--value-size must not be negative") }
    }

    func run() async throws {
        let configuration = try EtcdClientConfiguration(endpoints: self.endpoints, trustRootsPath: self.ca, certificatePath: self.cert, privateKeyPath: self.key)
        let client = try EtcdClient(configuration: configuration)
        let value = Data(repeating: UInt8(ascii: "v"), count: self.valueSize)
        // One put first, so connecting is not in the figures.
        var warm = Etcdserverpb_PutRequest()
        warm.key = Data("\(self.prefix)warm".utf8)
        _ = try await client.put(warm)

        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int64(self.seconds * 1000))
        let started = clock.now
        let results = try await withThrowingTaskGroup(of: WriterResult.self) { group in
            for writer in 0..<self.writers {
                group.addTask {
                    var result = WriterResult()
                    var count = 0
                    while clock.now < end {
                        var put = Etcdserverpb_PutRequest()
                        put.key = Data("\(self.prefix)\(writer)/\(count)".utf8)
                        put.value = value
                        let before = clock.now
                        do {
                            _ = try await client.put(put)
                            result.latencies.append(clock.now - before)
                        } catch {
                            result.failures += 1
                            result.lastFailure = "\(error)"
                        }
                        count += 1
                    }
                    return result
                }
            }
            var all: [WriterResult] = []
            for try await result in group { all.append(result) }
            return all
        }
        let elapsed = clock.now - started
        var latencies = results.flatMap { $0.latencies }
        latencies.sort()
        let failures = results.reduce(0) { $0 + $1.failures }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        func percentile(_ p: Double) -> String {
            guard !latencies.isEmpty else { return "-" }
            let index = min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)
            let value = latencies[max(index, 0)]
            let ms = Double(value.components.seconds) * 1000 + Double(value.components.attoseconds) / 1e15
            return String(format: "%.2f", ms)
        }
        let rate = String(format: "%.0f", Double(latencies.count) / seconds)
        print("writers=\(self.writers) seconds=\(String(format: "%.1f", seconds)) puts=\(latencies.count) puts/s=\(rate) p50_ms=\(percentile(0.50)) p99_ms=\(percentile(0.99)) failures=\(failures)")
        if let failure = results.compactMap { $0.lastFailure }.first {
            print("last failure: \(failure)")
        }

        var cleanup = Etcdserverpb_DeleteRangeRequest()
        cleanup.key = Data(self.prefix.utf8)
        cleanup.rangeEnd = Data(KeyRange.prefixEnd(of: Array(self.prefix.utf8)))
        _ = try? await client.deleteRange(cleanup)
        await client.close()
    }
}

/// One writer's acknowledged latencies and failures.
struct WriterResult: Sendable {
    var latencies: [Duration] = []
    var failures = 0
    var lastFailure: String?
}
