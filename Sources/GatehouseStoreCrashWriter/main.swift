// store-crash-writer: the child process of GatehouseStoreTests' crash test.
//
//     store-crash-writer <database> <round> [tasks] [records-per-batch]
//
// Opens the store at <database> and, from <tasks> concurrent tasks, commits
// batches as fast as it can until it is killed. Batch `r<round>-t<task>-b<n>`
// writes <records-per-batch> records `crash/<batch>-<j>` whose value is
// `<batch>-<j>@<revision>`, and an audit entry whose reason and only subject
// are the batch id. Every eleventh batch is refused by its transform.
//
// Right after `submit` returns it writes one line to stdout with write(2),
// unbuffered, so the parent reads exactly what was acknowledged:
//     ACK <revision> <batch>
//     REFUSED <batch>
// The parent SIGKILLs it at a random moment and checks the database.
import GatehouseStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `line` to stdout in one write(2): lines of concurrent tasks never interleave.
func emit(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
            if written <= 0 {
                exit(3)
            }
            offset += written
        }
    }
}

struct Refused: Error {}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let round = Int(arguments[2]) else {
    emit("usage: store-crash-writer <database> <round> [tasks] [records-per-batch]")
    exit(2)
}
let path = arguments[1]
let tasks = arguments.count > 3 ? Int(arguments[3]) ?? 8 : 8
let recordsPerBatch = arguments.count > 4 ? Int(arguments[4]) ?? 4 : 4

// The state is the number of batches committed: the test reads the records, not the state.
let store: SQLiteGateStore<Int>
do {
    store = try SQLiteGateStore(path: path) { loaded in loaded["crash"].count / max(1, recordsPerBatch) }
} catch {
    emit("ERROR \(error)")
    exit(1)
}
emit("READY \(store.snapshot.revision.rawValue)")

await withTaskGroup(of: Void.self) { group in
    for task in 0..<tasks {
        group.addTask {
            var number = 0
            while true {
                let batch = "r\(round)-t\(task)-b\(number)"
                let refuse = number % 11 == 10
                number += 1
                do {
                    let committed = try await store.submit { count, next in
                        if refuse {
                            throw Refused()
                        }
                        let records = (0..<recordsPerBatch).map { index in
                            StoreRecord.put(kind: "crash", key: "\(batch)-\(index)", value: Array("\(batch)-\(index)@\(next.rawValue)".utf8))
                        }
                        let audit = AuditEntry(
                            timeUnixMilliseconds: Int64(next.rawValue),
                            actor: "crash-writer",
                            method: "/crash/Write",
                            reason: batch,
                            after: Array(batch.utf8),
                            subjects: [batch]
                        )
                        return .commit(count + 1, records: records, audit: audit)
                    }
                    emit("ACK \(committed.revision.rawValue) \(batch)")
                } catch is Refused {
                    emit("REFUSED \(batch)")
                } catch {
                    emit("ERROR \(error)")
                    exit(1)
                }
            }
        }
    }
}
