import Foundation
import GatehouseCore
import GatehouseStore

/// How the gate state is laid out in the store: one record per feature,
/// API and override (kind and key from `ObjectKey`), its value JSON.
///
/// A batch writes only the objects it changed, so a commit costs what the
/// change costs, not what the whole catalog costs.
enum GateRecords {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// The store records of a batch's changes: a put per object written, a delete per object removed.
    static func records(for changes: [ObjectChange]) throws -> [StoreRecord] {
        try changes.map { change in
            guard let after = change.after else {
                return .delete(kind: change.key.kind, key: change.key.name)
            }
            return .put(kind: change.key.kind, key: change.key.name, value: try Self.encode(after))
        }
    }

    /// JSON of one object, as stored and as shown in the audit trail.
    static func encode(_ object: StoredObject) throws -> [UInt8] {
        switch object {
        case .feature(let value): return Array(try Self.encoder.encode(value))
        case .api(let value): return Array(try Self.encoder.encode(value))
        case .featureOverride(let value): return Array(try Self.encoder.encode(value))
        case .apiOverride(let value): return Array(try Self.encoder.encode(value))
        }
    }

    /// Rebuilds the state from what the store loaded; kinds are `ObjectKey.kind`'s.
    static func state(from loaded: LoadedRecords) throws -> GateState {
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_: T.Type, kind: String) throws -> [T] {
            try loaded[kind].sorted { $0.key < $1.key }.map { key, stored in
                do {
                    return try decoder.decode(T.self, from: Data(stored.value))
                } catch {
                    throw GateStoreError("stored \(kind) \"\(key)\" does not decode: \(error)")
                }
            }
        }
        return GateState(
            revision: loaded.revision,
            features: try decode(Revisioned<FeatureDefinition>.self, kind: "feature"),
            apis: try decode(Revisioned<APIDefinition>.self, kind: "api"),
            featureOverrides: try decode(FeatureOverride.self, kind: "feature_override"),
            apiOverrides: try decode(APIOverride.self, kind: "api_override")
        )
    }

    /// An audit entry's before/after: the changed objects keyed by `kind/name`, as JSON.
    static func auditJSON(_ changes: [ObjectChange], side: KeyPath<ObjectChange, StoredObject?>) throws -> [UInt8] {
        var parts: [String] = []
        for change in changes {
            guard let object = change[keyPath: side] else { continue }
            let key = try Self.encoder.encode("\(change.key.kind)/\(change.key.name)")
            parts.append("\(String(decoding: key, as: UTF8.self)):\(String(decoding: try Self.encode(object), as: UTF8.self))")
        }
        return Array("{\(parts.joined(separator: ","))}".utf8)
    }
}

/// The stored state cannot be read back.
struct GateStoreError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
