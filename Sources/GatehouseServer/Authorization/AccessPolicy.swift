import GatehouseTLS
import Yams

/// Who gets which role: bindings from certificate identities to roles,
/// read from a YAML file. An identity no binding matches gets no role, and
/// every call it makes is refused.
///
/// ```yaml
/// bindings:
///   - role: admin
///     subjects:
///       - common_name: admin
///   - role: operator
///     subjects:
///       - organization: sre
///   - role: component
///     subjects:
///       - organization: component      # the component's name is the CN
///       - uri_prefix: "spiffe://cluster/component/"
/// ```
public struct AccessPolicy: Codable, Sendable, Hashable {
    public var bindings: [Binding]

    public init(bindings: [Binding]) {
        self.bindings = bindings
    }

    /// Grants `role` to every identity that matches any of `subjects`.
    public struct Binding: Codable, Sendable, Hashable {
        public var role: Role
        public var subjects: [SubjectMatcher]

        public init(role: Role, subjects: [SubjectMatcher]) {
            self.role = role
            self.subjects = subjects
        }
    }

    /// Matches an identity when every field it sets matches; a matcher
    /// that sets nothing matches nobody.
    public struct SubjectMatcher: Codable, Sendable, Hashable {
        public var commonName: String?
        public var organization: String?
        public var organizationalUnit: String?
        public var uri: String?
        public var uriPrefix: String?

        enum CodingKeys: String, CodingKey {
            case commonName = "common_name"
            case organization
            case organizationalUnit = "organizational_unit"
            case uri
            case uriPrefix = "uri_prefix"
        }

        public init(commonName: String? = nil, organization: String? = nil, organizationalUnit: String? = nil, uri: String? = nil, uriPrefix: String? = nil) {
            self.commonName = commonName
            self.organization = organization
            self.organizationalUnit = organizationalUnit
            self.uri = uri
            self.uriPrefix = uriPrefix
        }

        var isEmpty: Bool {
            self.commonName == nil && self.organization == nil && self.organizationalUnit == nil && self.uri == nil && self.uriPrefix == nil
        }

        func matches(_ identity: TLSPeerIdentity) -> Bool {
            guard !self.isEmpty else { return false }
            if let commonName, identity.commonName != commonName { return false }
            if let organization, !identity.organizations.contains(organization) { return false }
            if let organizationalUnit, !identity.organizationalUnits.contains(organizationalUnit) { return false }
            if let uri, !identity.uris.contains(uri) { return false }
            if let uriPrefix, !identity.uris.contains(where: { $0.hasPrefix(uriPrefix) }) { return false }
            return true
        }
    }

    /// Every role the identity is bound to.
    ///
    /// Runs on every call, so it builds the set directly rather than through
    /// intermediate arrays of bindings and roles.
    public func roles(of identity: TLSPeerIdentity) -> Set<Role> {
        var roles: Set<Role> = []
        for binding in self.bindings where binding.subjects.contains(where: { $0.matches(identity) }) {
            roles.insert(binding.role)
        }
        return roles
    }

    /// Parses a policy file's text; errors say what is wrong and where.
    public static func parse(yaml: String, source: String) throws -> AccessPolicy {
        let policy: AccessPolicy
        do {
            policy = try YAMLDecoder().decode(AccessPolicy.self, from: yaml)
        } catch {
            throw PolicyError("policy \(source) is not valid: \(error)")
        }
        for (index, binding) in policy.bindings.enumerated() {
            if binding.subjects.isEmpty || binding.subjects.contains(where: \.isEmpty) {
                throw PolicyError("policy \(source): binding \(index + 1) (role \(binding.role.rawValue)) has a subject that matches nothing; set common_name, organization, organizational_unit, uri or uri_prefix")
            }
        }
        return policy
    }

    /// The policy a development server writes: its admin certificate is admin,
    /// and certificates issued by `gatehouse certs client --role R` get R.
    public static let development = AccessPolicy(
        bindings: [
            Binding(role: .admin, subjects: [SubjectMatcher(commonName: "admin", organization: "admin")]),
            Binding(role: .admin, subjects: [SubjectMatcher(organization: "admin")]),
            Binding(role: .operator, subjects: [SubjectMatcher(organization: "operator")]),
            Binding(role: .viewer, subjects: [SubjectMatcher(organization: "viewer")]),
            Binding(role: .component, subjects: [SubjectMatcher(organization: "component")]),
        ]
    )

    /// The YAML text of a policy, with a header comment.
    public func yaml() throws -> String {
        "# Gatehouse access policy: who gets which role. Unmatched identities are refused.\n"
            + "# Roles: admin, operator, viewer, component (a component's name is its certificate CN).\n"
            + (try YAMLEncoder().encode(self))
    }
}

/// A policy file that cannot be used.
public struct PolicyError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
