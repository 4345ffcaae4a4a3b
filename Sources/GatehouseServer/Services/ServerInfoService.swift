import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseTLS

/// `gatehouse.v1.Server`: what this server is and what it serves, so a
/// client can discover methods and limits instead of hard-coding them.
struct ServerInfoService: Sendable {
    let version: String
    let limits: RPCServerLimits
    /// How often an idle subscription gets a heartbeat: a client that knows it
    /// can tell a silent stream from a dead one (PROTOCOL.md 6.1).
    let heartbeatInterval: Duration
    let startedAtUnixMilliseconds: Int64
    /// This server's id among several over etcd; nil for a single server.
    let serverID: String?
    /// Filled in after every service is registered, including this one.
    let methods: @Sendable () -> [RPCMethodDescriptor]

    var methodsToRegister: [RPCMethod] {
        [
            .unary("/gatehouse.v1.Server/Info") { (_: Gatehouse_V1_InfoRequest, context) in
                self.info(caller: context.peer)
            }
        ]
    }

    func info(caller: TLSPeerIdentity?) -> Gatehouse_V1_InfoResponse {
        .with { info in
            info.serverVersion = self.version
            info.protocolVersions = RPCProtocol.versions.map(UInt32.init)
            info.startedAtUnixMs = self.startedAtUnixMilliseconds
            info.serverID = self.serverID ?? ""
            info.methods = self.methods().map { descriptor in
                .with {
                    $0.path = descriptor.path
                    $0.kind = descriptor.kind == .unary ? .unary : .serverStreaming
                    $0.requestType = descriptor.requestType
                    $0.responseType = descriptor.responseType
                    $0.acceptsClientMessages = descriptor.acceptsClientMessages
                }
            }
            info.limits = .with {
                $0.maxFrameSize = self.limits.maxFrameSize
                $0.maxConcurrentCallsPerConnection = UInt32(clamping: self.limits.maxConcurrentCallsPerConnection)
                $0.maxConnections = UInt32(clamping: self.limits.maxConnections)
                $0.handshakeTimeoutMs = UInt32(clamping: self.limits.handshakeTimeout.nanoseconds / 1_000_000)
                $0.idleTimeoutMs = UInt32(clamping: self.limits.idleTimeout.nanoseconds / 1_000_000)
                $0.keepaliveIntervalMs = UInt32(clamping: self.limits.keepaliveInterval.nanoseconds / 1_000_000)
                $0.heartbeatIntervalMs = UInt32(clamping: self.heartbeatInterval.wholeMilliseconds)
                $0.defaultPageSize = UInt32(Pager.defaultSize)
                $0.maxPageSize = UInt32(Pager.maximumSize)
            }
            if let caller {
                info.caller = .with {
                    $0.commonName = caller.commonName ?? ""
                    $0.organizations = caller.organizations
                    $0.organizationalUnits = caller.organizationalUnits
                    $0.dnsNames = caller.dnsNames
                    $0.uris = caller.uris
                    $0.fingerprintSha256 = caller.fingerprintSHA256
                }
            }
        }
    }
}
