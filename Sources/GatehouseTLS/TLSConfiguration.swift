import NIOCore

/// A TLS protocol version Gatehouse accepts as a minimum.
///
/// Only 1.2 and 1.3 exist here: older versions are refused by the protocol
/// (PROTOCOL.md §1), so they cannot even be expressed.
public enum TLSVersion: Sendable, Hashable, CustomStringConvertible {
    case v1_2
    case v1_3

    public var description: String {
        switch self {
        case .v1_2: return "TLSv1.2"
        case .v1_3: return "TLSv1.3"
        }
    }
}

/// Everything one side of a mutual-TLS connection needs: its own identity,
/// whom it trusts, and the protocol knobs.
///
/// The same shape serves server and client, because both sides of Gatehouse
/// always present a certificate and always verify the peer's. Paths rather
/// than PEM contents are stored so that the files can be rotated and a new
/// ``TLSContext`` built from the same configuration.
public struct TLSConfiguration: Sendable, Hashable {
    /// PEM file with our certificate, leaf first, then any intermediates.
    public var certificateChainPath: String
    /// PEM file with the private key of the leaf certificate.
    public var privateKeyPath: String
    /// PEM CA bundle the peer's certificate must chain to.
    public var trustRootsPath: String
    /// Optional PEM certificate revocation list, checked for the peer's certificate.
    public var crlPath: String?
    /// ALPN protocol ids we offer (client) or accept (server), most preferred first.
    public var applicationProtocols: [String]
    /// The oldest TLS version accepted; TLS 1.3 is always preferred.
    public var minimumVersion: TLSVersion
    /// How long a handshake may take before the connection is closed.
    public var handshakeTimeout: TimeAmount
    /// The newest TLS version offered; `nil` (the default) means TLS 1.3.
    /// Not public: the protocol always prefers 1.3; this exists so tests can
    /// prove TLS 1.2 peers still work (and are refused by a 1.3-only side).
    package var maximumVersion: TLSVersion? = nil

    /// Creates a configuration; the defaults are the Gatehouse protocol's (PROTOCOL.md §1).
    public init(
        certificateChainPath: String,
        privateKeyPath: String,
        trustRootsPath: String,
        crlPath: String? = nil,
        applicationProtocols: [String] = ["gatehouse/1"],
        minimumVersion: TLSVersion = .v1_2,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.trustRootsPath = trustRootsPath
        self.crlPath = crlPath
        self.applicationProtocols = applicationProtocols
        self.minimumVersion = minimumVersion
        self.handshakeTimeout = handshakeTimeout
    }
}
