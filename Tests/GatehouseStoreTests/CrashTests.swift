import Dispatch
import Foundation
import GatehouseStore
import Synchronization
import Testing

/// Kills a writer process at random moments and checks that the database kept
/// every acknowledged batch whole and no unacknowledged batch in part.
///
/// The child is the `store-crash-writer` executable (source in
/// `Sources/GatehouseStoreCrashWriter/main.swift`). It is found, in order:
/// 1. at `$GATEHOUSE_STORE_CRASH_WRITER`, if set;
/// 2. beside the test binary: `swift test` runs the test bundle from the build
///    products directory (`.build/<triple>/debug/`), where `swift build
///    --build-tests` also puts every executable product; on macOS the bundle's
///    ancestors are searched up to that directory;
/// 3. at `<package root>/.build/debug/store-crash-writer`, the root derived
///    from this file's `#filePath`.
/// If none exists the test fails and says how to build it.
@Suite("Crash safety", .serialized)
struct CrashTests {
    static let recordsPerBatch = 4
    static let rounds = 5

    @Test("SIGKILL at random moments loses no acknowledged batch and leaves no partial one")
    func killAtRandomMoments() async throws {
        let executable = try #require(
            Self.findCrashWriter(),
            "store-crash-writer not found; run `swift build --build-tests` or set GATEHOUSE_STORE_CRASH_WRITER"
        )
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        var acknowledged: [String: UInt64] = [:]  // batch → revision, over every round
        var refused: Set<String> = []
        for round in 0..<Self.rounds {
            let output = try await Self.runAndKill(executable, database: directory.database, round: round)
            #expect(!output.contains { $0.hasPrefix("ERROR") }, "child failed: \(output.filter { $0.hasPrefix("ERROR") })")
            var acknowledgedThisRound = 0
            for line in output {
                let fields = line.split(separator: " ")
                if fields.count == 3, fields[0] == "ACK", let revision = UInt64(fields[1]) {
                    acknowledged[String(fields[2])] = revision
                    acknowledgedThisRound += 1
                } else if fields.count == 2, fields[0] == "REFUSED" {
                    refused.insert(String(fields[1]))
                }
            }
            #expect(acknowledgedThisRound > 0, "round \(round) acknowledged nothing before the kill")
            try await Self.verify(database: directory.database, acknowledged: acknowledged, refused: refused)
        }
    }

    /// Reopens the database and checks every invariant of a crash-safe store.
    static func verify(database: String, acknowledged: [String: UInt64], refused: Set<String>) async throws {
        let store = try SQLiteGateStore<LoadedRecords>(path: database) { $0 }
        let loaded = store.snapshot.state
        let head = loaded.revision.rawValue

        // Group the records by batch: key `<batch>-<j>`, value `<batch>-<j>@<revision>`.
        var batches: [String: [Int: StoredValue]] = [:]
        for (key, stored) in loaded["crash"] {
            let dash = try #require(key.lastIndex(of: "-"))
            let index = try #require(Int(key[key.index(after: dash)...]))
            batches[String(key[..<dash]), default: [:]][index] = stored
        }

        // No partial batch: every batch present has all its records, written at one revision, with exact content.
        var batchAtRevision: [UInt64: String] = [:]
        for (batch, records) in batches {
            #expect(records.count == recordsPerBatch, "batch \(batch) is partial: \(records.keys.sorted())")
            let revisions = Set(records.values.map(\.modRevision))
            #expect(revisions.count == 1, "batch \(batch) spans revisions \(revisions)")
            let revision = try #require(revisions.first).rawValue
            #expect(revision >= 1 && revision <= head)
            #expect(batchAtRevision.updateValue(batch, forKey: revision) == nil, "two batches at r\(revision)")
            for (index, stored) in records {
                #expect(stored.value == Array("\(batch)-\(index)@\(revision)".utf8), "batch \(batch) record \(index)")
                #expect(stored.createRevision.rawValue == revision)
            }
        }

        // Nothing acknowledged is lost, and it sits at the revision the writer was told.
        for (batch, revision) in acknowledged {
            let records = batches[batch]
            #expect(records != nil, "acknowledged batch \(batch) at r\(revision) is lost")
            #expect(records?.values.first?.modRevision.rawValue == revision, "batch \(batch) moved from r\(revision)")
        }
        for batch in refused {
            #expect(batches[batch] == nil, "refused batch \(batch) was written")
        }

        // Revisions are dense, 1…head, and the audit row exists iff its batch's records do.
        let audit = try await store.history(AuditQuery(limit: Int.max))
        #expect(audit.map(\.revision.rawValue) == Array((1...max(head, 1)).reversed()).filter { $0 <= head })
        #expect(audit.count == batches.count)
        for record in audit {
            #expect(batchAtRevision[record.revision.rawValue] == record.entry.reason, "audit r\(record.revision) without its records")
            #expect(record.entry.subjects == [record.entry.reason])
        }
        await store.close()
    }

    /// Starts the child, waits for its first acknowledgement, lets it run a random
    /// 20–300 ms more, SIGKILLs it, and returns the complete lines it printed.
    static func runAndKill(_ executable: String, database: String, round: Int) async throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [database, "\(round)", "8", "\(recordsPerBatch)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let collector = OutputCollector()
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        collector.drain(pipe.fileHandleForReading)

        let started = try await eventually(seconds: 30) { collector.lines().contains { $0.hasPrefix("ACK") || $0.hasPrefix("ERROR") } }
        try await Task.sleep(for: .milliseconds(Int.random(in: 20...300)))
        kill(process.processIdentifier, SIGKILL)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                exited.wait()
                collector.waitForEOF()
                continuation.resume()
            }
        }
        #expect(started, "the child acknowledged nothing within 30 s")
        #expect(process.terminationReason == .uncaughtSignal)
        return collector.lines()
    }

    /// Where the crash writer executable is; see the type's documentation.
    static func findCrashWriter(filePath: String = #filePath) -> String? {
        let name = "store-crash-writer"
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["GATEHOUSE_STORE_CRASH_WRITER"] {
            return fileManager.isExecutableFile(atPath: override) ? override : nil
        }
        var candidates: [URL] = []
        var directory = Bundle.main.bundleURL
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent(name))
            directory.deleteLastPathComponent()
        }
        // Tests/GatehouseStoreTests/CrashTests.swift → package root.
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/\(name)"))
        return candidates.map(\.path).first { fileManager.isExecutableFile(atPath: $0) }
    }
}

/// Collects a child's stdout on a background thread, so the child never blocks on a full pipe.
final class OutputCollector: Sendable {
    private let buffer = Mutex<[UInt8]>([])
    private let finished = DispatchSemaphore(value: 0)

    func drain(_ handle: FileHandle) {
        DispatchQueue.global().async {
            while true {
                let data = handle.availableData
                if data.isEmpty {
                    break
                }
                self.buffer.withLock { $0.append(contentsOf: data) }
            }
            self.finished.signal()
        }
    }

    func waitForEOF() {
        self.finished.wait()
    }

    /// The complete lines so far; a line cut by the kill has no newline and is left out.
    func lines() -> [String] {
        let bytes = self.buffer.withLock { $0 }
        guard let end = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
            return []
        }
        return String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
