import Dispatch
import Foundation
import GatehouseStore
import Testing

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        self.path = "\(base)/gatehouse-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    var database: String { "\(self.path)/gatehouse.db" }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// The state the tests keep: key → value of every `kv` record, rebuilt from the records on open.
struct KeyValues: Sendable, Equatable {
    var values: [String: String] = [:]

    init(_ values: [String: String] = [:]) {
        self.values = values
    }

    init(loaded: LoadedRecords) {
        self.values = loaded["kv"].mapValues { String(decoding: $0.value, as: UTF8.self) }
    }
}

/// A domain refusal, as the layer above would throw.
struct Refusal: Error, Equatable {
    var reason: String
}

typealias KVStore = SQLiteGateStore<KeyValues>

func openStore(_ directory: TemporaryDirectory, configuration: SQLiteStoreConfiguration = .init()) throws -> KVStore {
    try KVStore(path: directory.database, configuration: configuration) { KeyValues(loaded: $0) }
}

/// A transform that sets `key` to `value` (nil deletes) as `actor`, naming `subjects` in the audit.
func put(
    _ key: String,
    _ value: String?,
    actor: String = "admin",
    subjects: [String]? = nil,
    time: Int64 = 1_700_000_000_000
) -> @Sendable (KeyValues, Revision) throws -> Transformation<KeyValues, Void> {
    { state, _ in
        var next = state
        next.values[key] = value
        let record = StoreRecord(kind: "kv", key: key, value: value.map { Array($0.utf8) })
        let audit = AuditEntry(
            timeUnixMilliseconds: time,
            actor: actor,
            method: "/test/Put",
            reason: "set \(key)",
            before: Array((state.values[key] ?? "").utf8),
            after: Array((value ?? "").utf8),
            subjects: subjects ?? [key]
        )
        return .commit(next, records: [record], audit: audit)
    }
}

/// Holds the store inside a transform (on its stager) until `release()`, so tests can queue a group behind it.
final class WriterGate: Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    /// A transform that blocks the stager, then commits `key = "gate"`.
    var transform: @Sendable (KeyValues, Revision) throws -> Transformation<KeyValues, Void> {
        { [entered, released] state, next in
            entered.signal()
            released.wait()
            return try put("gate", "gate")(state, next)
        }
    }

    /// A transform that blocks the stager, then refuses with `Refusal(reason: "gate")`: it adds no batch to any group.
    var refusingTransform: @Sendable (KeyValues, Revision) throws -> Transformation<KeyValues, Void> {
        { [entered, released] _, _ in
            entered.signal()
            released.wait()
            throw Refusal(reason: "gate")
        }
    }

    /// Waits (off the cooperative pool) until the stager is inside the blocking transform.
    func waitUntilEntered() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.entered.wait()
                continuation.resume()
            }
        }
    }

    func release() {
        self.released.signal()
    }
}

/// Polls `condition` every millisecond for up to `seconds`.
func eventually(seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() {
            return true
        }
        try await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}
