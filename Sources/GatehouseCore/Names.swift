/// Which names are acceptable for features, components, instances and parameters.
///
/// Names travel inside Kubernetes flag syntax (`--feature-gates=A=true,B=false`),
/// so `=`, `,` and whitespace can never be part of one; the rest follows what
/// Kubernetes itself uses (CamelCase gates, DNS-label-like component names).
enum Names {
    /// `InPlacePodVerticalScaling`: a letter, then letters, digits, `_`, `-` or `.`.
    static func isValidFeatureName(_ name: String) -> Bool {
        isIdentifier(name)
    }

    /// Same shape as a feature name.
    static func isValidParameterName(_ name: String) -> Bool {
        isIdentifier(name)
    }

    /// `kube-apiserver`, `node-17`, `10.0.0.4:6443`: non-empty, at most 253 characters,
    /// no whitespace, `=`, `,`, `/` or control characters (``ControlCharacters/isControl(_:)``:
    /// C0, DEL, C1, bidi overrides and other format characters, line and paragraph separators),
    /// which would forge log lines or reach terminals.
    static func isValidComponentOrInstance(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        // Every toggle checks its scope's names: ASCII, nearly always, needs no Unicode tables.
        if name.utf8.allSatisfy({ $0 < 0x80 }) {
            return name.utf8.count <= 253 && name.utf8.allSatisfy { byte in
                byte > 0x20 && byte != 0x7F
                    && byte != UInt8(ascii: "=") && byte != UInt8(ascii: ",") && byte != UInt8(ascii: "/")
            }
        }
        return name.count <= 253
            && name.unicodeScalars.allSatisfy {
                !$0.properties.isWhitespace && !ControlCharacters.isControl($0) && $0 != "=" && $0 != "," && $0 != "/"
            }
    }

    /// What ``isValidComponentOrInstance(_:)`` asks for, for messages.
    static let componentOrInstanceRule = "non-empty, at most 253 characters, no whitespace, control characters, '/', '=' or ','"

    /// A letter, then letters, digits, `_`, `-` or `.`, all ASCII: checked on the UTF-8 bytes.
    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, Self.isLetter(first) else {
            return false
        }
        return name.utf8.count <= 253 && name.utf8.allSatisfy { byte in
            Self.isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
