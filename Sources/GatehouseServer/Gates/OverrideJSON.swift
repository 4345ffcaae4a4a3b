import GatehouseCore

/// A hand-written JSON encoder for the object every toggle writes: a feature
/// override without parameters.
///
/// A profile of 64 writers showed Foundation's JSONEncoder at over a tenth
/// of the server's CPU, all of it in the store's serial staging of batches. The
/// output is the same JSON the Codable conformance reads back (keys as the
/// synthesized conformance names them); overrides with parameters still go
/// through JSONEncoder. `GateRecordsTests` decodes both and compares.
enum OverrideJSON {
    /// The JSON of `override`, or nil when it has parameters.
    static func encode(_ override: FeatureOverride) -> [UInt8]? {
        guard override.parameters.isEmpty else { return nil }
        var json = "{"
        if let enabled = override.enabled {
            json += "\"enabled\":\(enabled),"
        }
        json += "\"feature\":"
        Self.appendString(override.feature, to: &json)
        json += ",\"parameters\":{},\"scope\":"
        Self.appendString(override.scope.key, to: &json)
        json += ",\"stamp\":{\"actor\":"
        Self.appendString(override.stamp.actor, to: &json)
        json += ",\"reason\":"
        Self.appendString(override.stamp.reason, to: &json)
        json += ",\"revision\":\(override.stamp.revision.rawValue),\"time\":\(override.stamp.time.rawValue)}}"
        return Array(json.utf8)
    }

    /// Appends `text` as a JSON string literal (RFC 8259 escapes).
    static func appendString(_ text: String, to json: inout String) {
        json += "\""
        // Names, scopes and most reasons need no escape: append them whole, not scalar by scalar.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            json += text
            json += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }
}
