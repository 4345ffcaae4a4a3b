import Foundation
import GatehouseCore
import GatehouseStore

extension GateRecords {
    /// A committed batch's changes read back from its audit record, whose
    /// before/after JSON (`{"kind/name": object, …}`) is what `encode(_:)` wrote.
    ///
    /// Subscriptions resume from this after a restart: the retained history
    /// is the tail of the audit log, not a copy of past states.
    static func summary(from record: AuditRecord) throws -> BatchSummary {
        let before = try Self.objects(record.entry.before, revision: record.revision, side: "before")
        let after = try Self.objects(record.entry.after, revision: record.revision, side: "after")
        var changes: [ObjectKey: ObjectChange] = [:]
        for object in before {
            changes[object.key] = ObjectChange(key: object.key, before: object, after: nil)
        }
        for object in after {
            changes[object.key, default: ObjectChange(key: object.key, before: nil, after: nil)].after = object
        }
        return BatchSummary(revision: record.revision, changes: changes.values.sorted { $0.key < $1.key })
    }

    private static func objects(_ json: [UInt8], revision: Revision, side: String) throws -> [StoredObject] {
        guard !json.isEmpty else { return [] }
        guard let entries = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw GateStoreError("audit record r\(revision.rawValue): \(side) is not a JSON object")
        }
        let decoder = JSONDecoder()
        return try entries.map { name, value in
            guard let slash = name.firstIndex(of: "/") else {
                throw GateStoreError("audit record r\(revision.rawValue): \(side) key \"\(name)\" has no kind")
            }
            let data = try JSONSerialization.data(withJSONObject: value)
            do {
                switch name[..<slash] {
                case "feature": return .feature(try decoder.decode(Revisioned<FeatureDefinition>.self, from: data))
                case "api": return .api(try decoder.decode(Revisioned<APIDefinition>.self, from: data))
                case "feature_override": return .featureOverride(try decoder.decode(FeatureOverride.self, from: data))
                case "api_override": return .apiOverride(try decoder.decode(APIOverride.self, from: data))
                case "component_build": return .componentBuild(try decoder.decode(ComponentBuild.self, from: data))
                case "rollout": return .rollout(try decoder.decode(Rollout.self, from: data))
                default: throw GateStoreError("audit record r\(revision.rawValue): unknown kind in \"\(name)\"")
                }
            } catch let error as GateStoreError {
                throw error
            } catch {
                throw GateStoreError("audit record r\(revision.rawValue): \(side) \"\(name)\" does not decode: \(error)")
            }
        }
    }
}
