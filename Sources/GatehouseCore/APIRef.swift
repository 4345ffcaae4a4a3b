/// An API group/version, e.g. `batch/v1beta1`; the core group is `""` (spelled `v1`).
public struct APIGroupVersion: Hashable, Sendable, Comparable {
    /// The API group, e.g. `batch` or `networking.k8s.io`; empty for the core (legacy) group.
    public var group: String
    /// The version, e.g. `v1beta1`.
    public var version: String

    public init(group: String, version: String) {
        self.group = group
        self.version = version
    }

    public static func < (lhs: APIGroupVersion, rhs: APIGroupVersion) -> Bool {
        (lhs.group, lhs.version) < (rhs.group, rhs.version)
    }
}

extension APIGroupVersion: CustomStringConvertible {
    /// `batch/v1beta1`, or `v1` for the core group.
    public var description: String {
        self.group.isEmpty ? self.version : "\(self.group)/\(self.version)"
    }
}

/// One activatable API: a group/version, or one resource in it (`apps/v1/deployments`).
///
/// Spelled as in Kubernetes' `--runtime-config`: `group/version[/resource]`;
/// the core group is written `v1` (or `api/v1`, which parsing also accepts).
/// Encoded as that string, so a catalog file says `api: batch/v1beta1`.
public struct APIRef: Hashable, Sendable, Comparable {
    public var groupVersion: APIGroupVersion
    /// A resource within the group/version, e.g. `deployments`; nil for the whole group/version.
    public var resource: String?

    public init(group: String, version: String, resource: String? = nil) {
        self.groupVersion = APIGroupVersion(group: group, version: version)
        self.resource = resource
    }

    public init(_ groupVersion: APIGroupVersion, resource: String? = nil) {
        self.groupVersion = groupVersion
        self.resource = resource
    }

    public var group: String { self.groupVersion.group }
    public var version: String { self.groupVersion.version }

    /// Parses `batch/v1beta1`, `apps/v1/deployments`, `v1`, `api/v1`, `v1/pods`.
    ///
    /// `api/all`, `api/alpha`, `api/beta`, `api/ga` are selectors, not APIs:
    /// `APISelector(parsing:)` handles those.
    public init(parsing text: String) throws(GateError) {
        func fail(_ why: String) -> GateError {
            GateError(
                "invalid API \"\(text)\": \(why) (expected group/version or group/version/resource, e.g. batch/v1beta1, apps/v1/deployments, v1)",
                reason: .invalidAPI,
                metadata: ["api": text]
            )
        }
        var parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty }) else { throw fail("empty part") }
        guard parts.allSatisfy({ part in
            part.unicodeScalars.allSatisfy { !$0.properties.isWhitespace && !ControlCharacters.isControl($0) && $0 != "=" && $0 != "," }
        }) else {
            throw fail("whitespace, control characters, '=' and ',' are not allowed")
        }
        // The core group: `api/v1[/resource]` or `v1[/resource]`.
        if parts.first == "api" {
            parts.removeFirst()
            parts.insert("", at: 0)
        } else if parts.count <= 2, Self.looksLikeVersion(parts[0]), parts.count == 1 || !Self.looksLikeVersion(parts[1]) {
            parts.insert("", at: 0)
        }
        switch parts.count {
        case 2:
            guard Self.looksLikeVersion(parts[1]) else { throw fail("\"\(parts[1])\" is not a version like v1, v1beta1 or v2alpha1") }
            self.init(group: parts[0], version: parts[1])
        case 3:
            guard Self.looksLikeVersion(parts[1]) else { throw fail("\"\(parts[1])\" is not a version like v1, v1beta1 or v2alpha1") }
            self.init(group: parts[0], version: parts[1], resource: parts[2])
        default:
            throw fail("wrong number of parts")
        }
    }

    /// `v1`, `v2beta3`, `v1alpha1`: Kubernetes' API version shape.
    static func looksLikeVersion(_ text: String) -> Bool {
        var rest = Substring(text)
        guard rest.first == "v" else { return false }
        rest = rest.dropFirst()
        let major = rest.prefix(while: { $0.isASCII && $0.isNumber })
        guard !major.isEmpty else { return false }
        rest = rest.dropFirst(major.count)
        if rest.isEmpty { return true }
        for stage in ["alpha", "beta"] where rest.hasPrefix(stage) {
            let minor = rest.dropFirst(stage.count)
            return !minor.isEmpty && minor.allSatisfy { $0.isASCII && $0.isNumber }
        }
        return false
    }

    public static func < (lhs: APIRef, rhs: APIRef) -> Bool {
        if lhs.groupVersion != rhs.groupVersion { return lhs.groupVersion < rhs.groupVersion }
        return (lhs.resource ?? "") < (rhs.resource ?? "")
    }
}

extension APIRef: CustomStringConvertible {
    /// `apps/v1/deployments`, `batch/v1beta1`, `v1`, `v1/pods`.
    public var description: String {
        guard let resource else { return self.groupVersion.description }
        return "\(self.groupVersion)/\(resource)"
    }
}

extension APIRef: TextCodable {
    public var text: String { self.description }
}
