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
        var json: [UInt8] = []
        json.reserveCapacity(160 + override.stamp.reason.utf8.count)
        json.append(UInt8(ascii: "{"))
        if let enabled = override.enabled {
            json.append(contentsOf: enabled ? #""enabled":true,"#.utf8 : #""enabled":false,"#.utf8)
        }
        json.append(contentsOf: #""feature":"#.utf8)
        Self.appendString(override.feature, to: &json)
        json.append(contentsOf: #","parameters":{},"scope":"#.utf8)
        Self.appendString(override.scope.key, to: &json)
        json.append(contentsOf: #","stamp":{"actor":"#.utf8)
        Self.appendString(override.stamp.actor, to: &json)
        json.append(contentsOf: #","reason":"#.utf8)
        Self.appendString(override.stamp.reason, to: &json)
        json.append(contentsOf: #","revision":"#.utf8)
        json.append(contentsOf: String(override.stamp.revision.rawValue).utf8)
        json.append(contentsOf: #","time":"#.utf8)
        json.append(contentsOf: String(override.stamp.time.rawValue).utf8)
        json.append(contentsOf: "}}".utf8)
        return json
    }

    /// Appends `text` as a JSON string literal (RFC 8259 escapes).
    static func appendString(_ text: String, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        Self.appendEscaped(text, to: &json)
        json.append(UInt8(ascii: "\""))
    }

    /// Appends `text` escaped for the inside of a JSON string literal, without the quotes.
    static func appendEscaped(_ text: String, to json: inout [UInt8]) {
        var text = text
        // Through the contiguous UTF-8, not the view's indices: a small
        // string's view decodes its storage again at every index.
        text.withUTF8 { bytes in Self.appendEscaped(bytes, to: &json) }
    }

    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to json: inout [UInt8]) {
        // Names, scopes and most reasons need no escape: append them whole, not byte by byte.
        if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            json.append(contentsOf: bytes)
            return
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): json.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): json.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): json.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): json.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                // UTF-8 bytes at or above 0x80 pass through: JSON text is UTF-8.
                json.append(contentsOf: #"\u00"#.utf8)
                json.append(Self.hexDigits[Int(byte >> 4)])
                json.append(Self.hexDigits[Int(byte & 0x0F)])
            default:
                json.append(byte)
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
