/// What a completed handshake negotiated, and with whom.
///
/// Fired once per connection as ``TLSEvent/handshakeCompleted(_:)`` and kept
/// on ``TLSHandler/handshakeResult``, so the RPC layer can check ALPN and
/// authorize the peer without touching OpenSSL.
public struct TLSHandshakeResult: Sendable, Hashable {
    /// The ALPN protocol both sides agreed on, or `nil` when the client offered none.
    public var negotiatedProtocol: String?
    /// The protocol version, as OpenSSL names it (`TLSv1.3`, `TLSv1.2`).
    public var protocolVersion: String
    /// The cipher suite, as OpenSSL names it (`TLS_AES_256_GCM_SHA384`).
    public var cipher: String
    /// Whether an earlier session was resumed (an abbreviated handshake).
    public var sessionReused: Bool
    /// The peer's verified certificate identity; `nil` only if the peer sent none,
    /// which the server never accepts.
    public var peer: TLSPeerIdentity?

    /// Creates a result from its parts.
    public init(
        negotiatedProtocol: String?,
        protocolVersion: String,
        cipher: String,
        sessionReused: Bool,
        peer: TLSPeerIdentity?
    ) {
        self.negotiatedProtocol = negotiatedProtocol
        self.protocolVersion = protocolVersion
        self.cipher = cipher
        self.sessionReused = sessionReused
        self.peer = peer
    }
}

/// User inbound events fired by ``TLSHandler``.
///
/// An enum rather than a bare struct so that later events (say, a key
/// update) can be added without a second event type to look for.
public enum TLSEvent: Sendable, Hashable {
    /// The handshake finished and the peer verified; application data may flow.
    case handshakeCompleted(TLSHandshakeResult)
}
