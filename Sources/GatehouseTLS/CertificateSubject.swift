/// The distinguished name of a certificate Gatehouse issues.
///
/// Only the attributes Gatehouse authorizes on are offered: the common name
/// is the identity, O carries the role, OU optionally narrows it
/// (DESIGN.md "Security").
public struct CertificateSubject: Sendable, Hashable {
    /// CN: the identity (`admin`, `kube-scheduler`, a host name for servers).
    public var commonName: String
    /// O attributes; for client certificates, the role.
    public var organizations: [String]
    /// OU attributes.
    public var organizationalUnits: [String]

    /// Creates a subject.
    public init(commonName: String, organizations: [String] = [], organizationalUnits: [String] = []) {
        self.commonName = commonName
        self.organizations = organizations
        self.organizationalUnits = organizationalUnits
    }
}

/// A subject alternative name (RFC 5280 §4.2.1.6) of a kind Gatehouse uses.
public enum SubjectAlternativeName: Sendable, Hashable, CustomStringConvertible {
    /// A DNS name (`localhost`, `gatehouse.example.com`).
    case dns(String)
    /// An IPv4 or IPv6 address in text form (`127.0.0.1`, `::1`).
    case ip(String)
    /// A URI, e.g. a SPIFFE id.
    case uri(String)
    /// An email address.
    case email(String)

    public var description: String {
        switch self {
        case .dns(let value): return "DNS:\(value)"
        case .ip(let value): return "IP:\(value)"
        case .uri(let value): return "URI:\(value)"
        case .email(let value): return "email:\(value)"
        }
    }
}

/// What a leaf certificate is for, which fixes its extended key usage.
public enum LeafKind: Sendable, Hashable {
    /// A TLS server: extendedKeyUsage serverAuth.
    case server
    /// A TLS client: extendedKeyUsage clientAuth.
    case client
}
