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

    /// A batch's changes encoded once: the store records and the audit
    /// entry's before/after reuse the same JSON.
    struct Encoded {
        var records: [StoreRecord] = []
        var before: [UInt8] = []
        var after: [UInt8] = []
    }

    /// The store records of a batch (a put per object written, a delete per
    /// object removed) and the audit JSON of the changed objects, keyed by
    /// `kind/name`.
    static func encode(_ changes: [ObjectChange]) throws -> Encoded {
        var encoded = Encoded()
        encoded.before.append(UInt8(ascii: "{"))
        encoded.after.append(UInt8(ascii: "{"))
        for change in changes {
            let (kind, name) = (change.key.kind, change.key.name)
            var key: [UInt8] = [UInt8(ascii: "\"")]
            OverrideJSON.appendEscaped(kind, to: &key)
            key.append(UInt8(ascii: "/"))
            OverrideJSON.appendEscaped(name, to: &key)
            key.append(contentsOf: #"":"#.utf8)
            if let old = change.before {
                Self.appendMember(key, try Self.encode(old), to: &encoded.before)
            }
            if let new = change.after {
                let value = try Self.encode(new)
                encoded.records.append(.put(kind: kind, key: name, value: value))
                Self.appendMember(key, value, to: &encoded.after)
            } else {
                encoded.records.append(.delete(kind: kind, key: name))
            }
        }
        encoded.before.append(UInt8(ascii: "}"))
        encoded.after.append(UInt8(ascii: "}"))
        return encoded
    }

    /// Appends `"key":value` to a JSON object being built, with a comma after the first member.
    private static func appendMember(_ key: [UInt8], _ value: [UInt8], to object: inout [UInt8]) {
        if object.count > 1 { object.append(UInt8(ascii: ",")) }
        object.append(contentsOf: key)
        object.append(contentsOf: value)
    }

    /// JSON of one object, as stored and as shown in the audit trail.
    static func encode(_ object: StoredObject) throws -> [UInt8] {
        switch object {
        case .feature(let value): return Array(try Self.encoder.encode(value))
        case .api(let value): return Array(try Self.encoder.encode(value))
        case .featureOverride(let value): return try OverrideJSON.encode(value) ?? Array(Self.encoder.encode(value))
        case .apiOverride(let value): return Array(try Self.encoder.encode(value))
        case .componentBuild(let value): return Array(try Self.encoder.encode(value))
        case .rollout(let value): return Array(try Self.encoder.encode(value))
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
            apiOverrides: try decode(APIOverride.self, kind: "api_override"),
            builds: try decode(ComponentBuild.self, kind: "component_build"),
            rollouts: try decode(Rollout.self, kind: "rollout")
        )
    }
}

/// The stored state cannot be read back.
struct GateStoreError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
