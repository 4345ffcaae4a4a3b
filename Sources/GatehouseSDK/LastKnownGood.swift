import Foundation
import GatehouseProto
import SwiftProtobuf

/// The state a component applied last, as saved for its next boot.
///
/// Stored as JSON: a small header and the effective state as the protobuf
/// JSON of `gatehouse.v1.Snapshot`. JSON rather than binary protobuf because a
/// truncated or hand-damaged file must be detected, not half-read (a cut
/// binary message often still parses), and an operator can `cat` it.
struct LastKnownGood: Hashable, Sendable {
    static let format = "gatehouse.sdk.last-known-good/1"

    var component: String
    var instanceID: String
    var version: String
    /// Wall-clock time of saving, in milliseconds since the Unix epoch.
    var savedAtUnixMilliseconds: Int64
    var snapshot: Gatehouse_V1_Snapshot

    var savedAt: Date {
        Date(timeIntervalSince1970: Double(self.savedAtUnixMilliseconds) / 1000)
    }

    /// Why a file could not be used.
    enum DecodeError: Error, Hashable, CustomStringConvertible {
        case notJSON(String)
        case wrongFormat(String)
        case missingField(String)
        case invalidSnapshot(String)
        case otherComponent(String)

        var description: String {
            switch self {
            case .notJSON(let why): "not JSON (\(why))"
            case .wrongFormat(let found): "format \"\(found)\" is not \(LastKnownGood.format)"
            case .missingField(let field): "no valid \"\(field)\""
            case .invalidSnapshot(let why): "the saved snapshot is invalid (\(why))"
            case .otherComponent(let name): "it was saved by component \"\(name)\""
            }
        }
    }

    func encoded() throws -> Data {
        let snapshotJSON = try self.snapshot.jsonString()
        let header: [String: Any] = [
            "format": Self.format,
            "component": self.component,
            "instance_id": self.instanceID,
            "version": self.version,
            "saved_at_unix_ms": self.savedAtUnixMilliseconds,
        ]
        // The header through JSONSerialization (for escaping), the snapshot spliced in as protobuf's JSON.
        var headerText = String(decoding: try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        headerText.removeLast()  // the closing brace
        return Data("\(headerText),\"snapshot\":\(snapshotJSON)}\n".utf8)
    }

    static func decode(_ data: Data, expectedComponent: String) throws(DecodeError) -> LastKnownGood {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw .notJSON("\(error.localizedDescription)")
        }
        guard let top = object as? [String: Any] else { throw .notJSON("not an object") }
        guard let format = top["format"] as? String else { throw .missingField("format") }
        guard format == Self.format else { throw .wrongFormat(format) }
        guard let component = top["component"] as? String else { throw .missingField("component") }
        guard component == expectedComponent else { throw .otherComponent(component) }
        guard let instanceID = top["instance_id"] as? String else { throw .missingField("instance_id") }
        guard let version = top["version"] as? String else { throw .missingField("version") }
        guard let savedAt = (top["saved_at_unix_ms"] as? NSNumber)?.int64Value else { throw .missingField("saved_at_unix_ms") }
        guard let snapshotObject = top["snapshot"], snapshotObject is [String: Any] else { throw .missingField("snapshot") }
        let snapshot: Gatehouse_V1_Snapshot
        do {
            let snapshotData = try JSONSerialization.data(withJSONObject: snapshotObject)
            snapshot = try Gatehouse_V1_Snapshot(jsonUTF8Data: snapshotData)
        } catch {
            throw .invalidSnapshot("\(error)")
        }
        return LastKnownGood(
            component: component,
            instanceID: instanceID,
            version: version,
            savedAtUnixMilliseconds: savedAt,
            snapshot: snapshot
        )
    }
}
