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

    /// `kube-apiserver`, `node-17`, `10.0.0.4:6443`: non-empty, no whitespace, `=`, `,` or `/`.
    static func isValidComponentOrInstance(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 253
            && name.unicodeScalars.allSatisfy { !$0.properties.isWhitespace && $0 != "=" && $0 != "," && $0 != "/" }
    }

    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else {
            return false
        }
        return name.count <= 253 && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == ".")
        }
    }
}
