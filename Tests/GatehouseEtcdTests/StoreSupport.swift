import Foundation
import GatehouseStore

/// The state the store tests keep: key → value of every `kv` record.
///
/// Rebuilt from the records on open, and moved forward by another server's
/// batches from their audit entries (subject = key, after = value, method
/// `/test/Delete` for a removal), as the server replays summaries.
struct StoreKeyValues: Sendable, Equatable {
    var values: [String: String] = [:]

    init(_ values: [String: String] = [:]) {
        self.values = values
    }

    init(loaded: LoadedRecords) {
        self.values = loaded["kv"].mapValues { String(decoding: $0.value, as: UTF8.self) }
    }

    func replaying(_ record: AuditRecord) throws -> StoreKeyValues {
        guard let key = record.entry.subjects.first else { throw StoreTestRefusal(reason: "audit r\(record.revision.rawValue) names no key") }
        var next = self
        next.values[key] = record.entry.method == "/test/Delete" ? nil : String(decoding: record.entry.after, as: UTF8.self)
        return next
    }
}

/// A domain refusal, as the layer above would throw.
struct StoreTestRefusal: Error, Equatable {
    var reason: String
}

/// A transform that sets `key` to `value` (nil deletes) as `actor`.
func storePut(
    _ key: String,
    _ value: String?,
    actor: String = "admin",
    time: Int64 = 1_700_000_000_000
) -> @Sendable (StoreKeyValues, Revision) throws -> Transformation<StoreKeyValues, Void> {
    { state, _ in
        var next = state
        next.values[key] = value
        let record = StoreRecord(kind: "kv", key: key, value: value.map { Array($0.utf8) })
        let audit = AuditEntry(
            timeUnixMilliseconds: time,
            actor: actor,
            method: value == nil ? "/test/Delete" : "/test/Put",
            reason: "set \(key)",
            before: Array((state.values[key] ?? "").utf8),
            after: Array((value ?? "").utf8),
            subjects: [key]
        )
        return .commit(next, records: [record], audit: audit)
    }
}

/// A transform that writes `count` keys `prefix0…` in one batch.
func storePutMany(_ prefix: String, count: Int, valueBytes: Int = 1) -> @Sendable (StoreKeyValues, Revision) throws -> Transformation<StoreKeyValues, Void> {
    { state, _ in
        var next = state
        var records: [StoreRecord] = []
        let value = String(repeating: "v", count: valueBytes)
        for index in 0..<count {
            next.values["\(prefix)\(index)"] = value
            records.append(.put(kind: "kv", key: "\(prefix)\(index)", value: Array(value.utf8)))
        }
        let audit = AuditEntry(timeUnixMilliseconds: 0, actor: "admin", method: "/test/PutMany", reason: "bulk", subjects: [prefix])
        return .commit(next, records: records, audit: audit)
    }
}
