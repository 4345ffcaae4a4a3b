import ArgumentParser
import Foundation
import GatehouseClient

/// `gatectl info`: what the server is, speaks and allows.
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the server's version, protocol, limits, methods and who you are to it.",
        discussion: """
            Examples:
              gatectl info
              gatectl info -o json | jq .methods
              gatectl info --config ./gatehouse-data/admin.conf -o yaml
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let info = try await self.global.withClient { try await $0.info() }
            try Printer.print(info, as: self.global.output) { Self.table(info) }
        }
    }

    static func table(_ info: Gatehouse_V1_InfoResponse) -> String {
        let started = Date(timeIntervalSince1970: Double(info.startedAtUnixMs) / 1000)
        let caller = info.caller
        let limits = info.limits
        let summary = Printer.table(
            header: ["SERVER", "PROTOCOL", "STARTED", "YOU ARE"],
            rows: [[
                "gatehouse \(info.serverVersion)" + (info.serverID.isEmpty ? "" : " (server \(info.serverID))"),
                info.protocolVersions.map(String.init).joined(separator: ","),
                ISO8601DateFormatter().string(from: started),
                "CN=\(caller.commonName) O=\(caller.organizations.joined(separator: ","))",
            ]]
        )
        let limitsTable = Printer.table(
            header: ["MAX FRAME", "CALLS/CONN", "CONNECTIONS", "HANDSHAKE", "IDLE", "KEEPALIVE", "HEARTBEAT", "PAGE"],
            rows: [[
                "\(limits.maxFrameSize)",
                "\(limits.maxConcurrentCallsPerConnection)",
                "\(limits.maxConnections)",
                "\(limits.handshakeTimeoutMs / 1000)s",
                "\(limits.idleTimeoutMs / 1000)s",
                "\(limits.keepaliveIntervalMs / 1000)s",
                Self.duration(ms: limits.heartbeatIntervalMs),
                "\(limits.defaultPageSize) (max \(limits.maxPageSize))",
            ]]
        )
        let methods = Printer.table(
            header: ["METHOD", "KIND", "REQUEST", "RESPONSE"],
            rows: info.methods.map { method in
                let kind = method.kind == .serverStreaming ? (method.acceptsClientMessages ? "bidi-stream" : "server-stream") : "unary"
                return [method.path, kind, method.requestType, method.responseType]
            }
        )
        return [summary, limitsTable, methods].joined(separator: "\n")
    }

    /// Whole seconds as "10s", anything else in milliseconds; "-" for a server that does not say.
    static func duration(ms: UInt32) -> String {
        ms == 0 ? "-" : (ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms")
    }
}
