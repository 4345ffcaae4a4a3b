import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import Yams

/// `gatectl version`: this gatectl's version, and the server's when it answers.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Show gatectl's version and the server's (from Server/Info).",
        discussion: """
            The client's version needs no server: with --client, or when the server
            cannot be reached, it is printed all the same (an unreachable server then
            says why on stderr and exits 69, as any command would).

            Examples:
              gatectl version
              gatectl version --client
              gatectl version -o json
            """
    )

    @Flag(name: .long, help: "Only the client's version: no config, no connection.")
    var client = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            guard !self.client else {
                try self.print(server: nil)
                return
            }
            let info: Gatehouse_V1_InfoResponse
            do {
                info = try await self.global.withClient { try await $0.info() }
            } catch {
                try self.print(server: nil)
                throw error
            }
            try self.print(server: info)
        }
    }

    private func print(server info: Gatehouse_V1_InfoResponse?) throws {
        switch self.global.output {
        case .table, .wide:
            Swift.print(Self.table(server: info), terminator: "")
        case .json, .yaml:
            var object: [String: Any] = ["client": ["version": BuildVersion.current]]
            if let info {
                object["server"] = ["version": info.serverVersion, "protocolVersions": info.protocolVersions.map(Int.init)]
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            if self.global.output == .json {
                Swift.print(String(decoding: data, as: UTF8.self))
            } else {
                Swift.print(try Yams.dump(object: try Yams.load(yaml: String(decoding: data, as: UTF8.self)), sortKeys: true), terminator: "")
            }
        }
    }

    /// `Client: gatectl 0.1.0` and, when known, `Server: gatehouse 0.1.0 (protocol 1)`.
    static func table(server info: Gatehouse_V1_InfoResponse?) -> String {
        var lines = ["Client: gatectl \(BuildVersion.current)"]
        if let info {
            let protocols = info.protocolVersions.map(String.init).joined(separator: ",")
            lines.append(ControlCharacters.escaped("Server: gatehouse \(info.serverVersion) (protocol \(protocols))"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
