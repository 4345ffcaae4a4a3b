// StoreBenchmark: durable commit throughput and latency of SQLiteGateStore,
// next to the cost of one fdatasync on the same disk.
//
//     swift run -c release StoreBenchmark [directory] [seconds-per-level]
//
// For 1, 16, 64 and 256 concurrent submitters (tasks in this process), each
// submitting one small batch after another for a fixed time, it prints
// durable commits per second, p50/p99 submit latency, and the average group
// size. Every commit is fsynced (WAL, synchronous=FULL), so with one
// submitter throughput is bounded by the fsync cost; group commit is what
// lifts it with more. It prints figures and asserts nothing.
import Foundation
import GatehouseStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Count: Sendable {
    var value = 0
}

func percentile(_ sorted: [Duration], _ p: Double) -> Duration {
    guard !sorted.isEmpty else { return .zero }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func milliseconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.3f ms", Double(seconds) * 1e3 + Double(attoseconds) / 1e15)
}

/// The cost of making 4 KiB durable with fdatasync, measured `iterations` times.
func measureFdatasync(directory: String, iterations: Int = 200) -> [Duration] {
    let path = "\(directory)/fdatasync-probe"
    let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else {
        print("cannot open \(path): \(String(cString: strerror(errno)))")
        return []
    }
    defer {
        close(descriptor)
        unlink(path)
    }
    let page = [UInt8](repeating: 0xAB, count: 4096)
    let clock = ContinuousClock()
    var samples: [Duration] = []
    for index in 0..<iterations {
        let elapsed = clock.measure {
            _ = page.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(index % 16) * 4096) }
            _ = fdatasync(descriptor)
        }
        samples.append(elapsed)
    }
    return samples.sorted()
}

/// Runs `submitters` tasks against a fresh store for `seconds` and prints one line.
func run(submitters: Int, seconds: Int, directory: String) async throws {
    let path = "\(directory)/bench-\(submitters).db"
    let store = try SQLiteGateStore<Count>(path: path) { _ in Count() }
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(seconds)
    let started = clock.now
    let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
        for task in 0..<submitters {
            group.addTask {
                var mine: [Duration] = []
                var index = 0
                while clock.now < deadline {
                    let key = "t\(task)-\(index)"
                    index += 1
                    let begin = clock.now
                    _ = try await store.submit { state, next in
                        Transformation.commit(
                            Count(value: state.value + 1),
                            records: [.put(kind: "bench", key: key, value: Array(repeating: 0x42, count: 64))],
                            audit: AuditEntry(timeUnixMilliseconds: 0, actor: "bench", method: "/bench/Put", reason: "", subjects: [key])
                        )
                    }
                    mine.append(clock.now - begin)
                }
                return mine
            }
        }
        return try await group.reduce(into: []) { $0 += $1 }.sorted()
    }
    let elapsed = clock.now - started
    let statistics = store.statistics
    await store.close()
    let (wholeSeconds, attoseconds) = elapsed.components
    let rate = Double(latencies.count) / (Double(wholeSeconds) + Double(attoseconds) / 1e18)
    let group = Double(statistics.batchesCommitted) / Double(max(1, statistics.transactionsCommitted))
    print(
        String(
            format: "%4d submitters: %8.0f commits/s   p50 %@   p99 %@   transactions %6d   batches/transaction %6.1f",
            submitters, rate, milliseconds(percentile(latencies, 0.50)), milliseconds(percentile(latencies, 0.99)),
            statistics.transactionsCommitted, group
        )
    )
}

let arguments = CommandLine.arguments
let base = arguments.count > 1 ? arguments[1] : FileManager.default.temporaryDirectory.path
let seconds = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
let directory = "\(base)/gatehouse-store-bench-\(UUID().uuidString)"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

let syncs = measureFdatasync(directory: directory)
print("fdatasync of 4 KiB in \(directory): p50 \(milliseconds(percentile(syncs, 0.5)))   p99 \(milliseconds(percentile(syncs, 0.99)))")
for submitters in [1, 16, 64, 256] {
    try await run(submitters: submitters, seconds: seconds, directory: directory)
}
