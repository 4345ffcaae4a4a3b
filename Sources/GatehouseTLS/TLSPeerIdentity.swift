/// Who the peer is, as its verified certificate says.
///
/// Authorization above the TLS layer needs only these fields (DESIGN.md
/// "Security": identity is the subject CN and the SANs; roles may come from
/// O or OU), so they are extracted once, at handshake time, into a plain
/// value that can be logged, compared, and sent across threads, instead of
/// passing an OpenSSL `X509*` around.
public struct TLSPeerIdentity: Sendable, Hashable, Codable {
    /// The subject's common name (CN); the first one if the subject has several.
    public var commonName: String?
    /// The subject's organization (O) attributes, in certificate order.
    public var organizations: [String]
    /// The subject's organizational unit (OU) attributes, in certificate order.
    public var organizationalUnits: [String]
    /// Subject alternative names of type DNS.
    public var dnsNames: [String]
    /// Subject alternative names of type URI (e.g. SPIFFE ids).
    public var uris: [String]
    /// Subject alternative names of type IP address, in their textual form.
    public var ipAddresses: [String]
    /// Subject alternative names of type email (rfc822Name).
    public var emails: [String]
    /// SHA-256 of the DER certificate, lowercase hex without separators.
    public var fingerprintSHA256: String
    /// The whole subject in RFC 2253 form, e.g. `O=admin,CN=admin` (most specific first).
    public var subject: String

    /// Creates an identity from its parts (normally done by ``X509Certificate/identity``).
    public init(
        commonName: String?,
        organizations: [String] = [],
        organizationalUnits: [String] = [],
        dnsNames: [String] = [],
        uris: [String] = [],
        ipAddresses: [String] = [],
        emails: [String] = [],
        fingerprintSHA256: String,
        subject: String
    ) {
        self.commonName = commonName
        self.organizations = organizations
        self.organizationalUnits = organizationalUnits
        self.dnsNames = dnsNames
        self.uris = uris
        self.ipAddresses = ipAddresses
        self.emails = emails
        self.fingerprintSHA256 = fingerprintSHA256
        self.subject = subject
    }
}
