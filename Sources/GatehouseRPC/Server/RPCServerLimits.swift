import NIOCore

/// The limits a server enforces (PROTOCOL.md section 7).
public struct RPCServerLimits: Hashable, Sendable {
    /// Authenticated connections open at once (handshakes not counted); more
    /// get GOAWAY right after their TLS handshake.
    public var maxConnections: Int = 1_000
    /// Of `maxConnections`, how many only privileged identities may use
    /// (`RPCServer.Configuration.isPrivileged`), so others cannot lock them out.
    public var reservedConnections: Int = 50
    /// Connections still in their TLS handshake at once; a new one past this
    /// drops the oldest pending handshake, one that has sent nothing first.
    public var maxHandshakes: Int = 128
    /// Calls open at once on one connection; more are refused with RESOURCE_EXHAUSTED.
    public var maxConcurrentCallsPerConnection: Int = 100
    /// The largest frame payload accepted, in octets.
    public var maxFrameSize: UInt32 = 1_048_576
    /// TLS handshake plus HELLO must finish within this.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// A connection with no open call is closed after this long.
    public var idleTimeout: TimeAmount = .seconds(300)
    /// A silent connection is pinged after this, and closed after twice this.
    public var keepaliveInterval: TimeAmount = .seconds(30)
    /// Metadata one call's HEADERS may carry, counted as in HTTP/2's header
    /// list size: key and value octets plus 32 per entry. More is refused with
    /// RESOURCE_EXHAUSTED (gRPC-Go's default is the same 16 KiB).
    public var maxMetadataPerCall: Int = 16_384
    /// Metadata all open calls of one connection may hold together, counted as
    /// per call; a call that would pass it is refused with RESOURCE_EXHAUSTED.
    public var maxMetadataPerConnection: Int = 262_144
    /// Octets written to a connection and not yet taken by its peer past
    /// which the server stops reading from it, until the peer catches up
    /// (the channel's high write-buffer water mark; the low one is half).
    public var maxPendingOutput: Int = 262_144
    /// The window in which PINGs and cancelled calls are counted.
    public var floodWindow: TimeAmount = .seconds(10)
    /// PINGs (without ACK) a peer may send per window; one more ends the
    /// connection with GOAWAY ENHANCE_YOUR_CALM.
    public var maxPingsPerWindow: Int = 100
    /// CANCEL frames a peer may send per window (rapid reset); one more ends
    /// the connection with GOAWAY ENHANCE_YOUR_CALM.
    public var maxCancelsPerWindow: Int = 200
    /// How long draining calls may run after GOAWAY before connections are closed.
    public var shutdownGracePeriod: TimeAmount = .seconds(10)

    public init() {}

    /// The settings the server announces in its HELLO.
    var helloSettings: [Frame.Setting] {
        [
            Frame.Setting(.maxFrameSize, self.maxFrameSize),
            Frame.Setting(.maxConcurrentStreams, UInt32(clamping: self.maxConcurrentCallsPerConnection)),
            Frame.Setting(.keepaliveIntervalMilliseconds, UInt32(clamping: self.keepaliveInterval.nanoseconds / 1_000_000)),
            Frame.Setting(.idleTimeoutMilliseconds, UInt32(clamping: self.idleTimeout.nanoseconds / 1_000_000)),
        ]
    }
}

/// The protocol versions this implementation speaks, preferred first.
public enum RPCProtocol {
    public static let versions: [UInt16] = [1]
    /// The ALPN protocol id of version 1.
    public static let alpn = "gatehouse/1"
}
