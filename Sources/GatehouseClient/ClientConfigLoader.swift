import Foundation
import GatehouseRPC
import Yams

/// Finds and reads the client config, the way kubectl finds a kubeconfig.
public enum ClientConfigLoader {
    /// The environment variable naming a config file.
    public static let environmentVariable = "GATEHOUSE_CONFIG"

    /// Where a config is looked for when none is named, in order.
    public static var defaultLocations: [String] {
        var locations: [String] = []
        if let home = ProcessInfo.processInfo.environment["HOME"] {
            locations.append("\(home)/.gatehouse/config")
        }
        locations.append("./gatehouse-data/admin.conf")
        return locations
    }

    /// The path used: `explicit`, else `$GATEHOUSE_CONFIG`, else the first default location that exists.
    public static func resolvePath(explicit: String?) throws(GatehouseClientError) -> String {
        if let explicit { return explicit }
        if let fromEnvironment = ProcessInfo.processInfo.environment[Self.environmentVariable], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        if let found = Self.defaultLocations.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            return found
        }
        throw .configuration(
            "no client config found: pass --config, set \(Self.environmentVariable), or create one of \(Self.defaultLocations.joined(separator: ", ")) (gatehouse serve writes <data-dir>/admin.conf)"
        )
    }

    /// Reads a config file; relative certificate paths are taken from the file's directory.
    public static func load(path: String) throws(GatehouseClientError) -> ClientConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .configuration("cannot read client config \(path): \(error.localizedDescription)")
        }
        do {
            let config = try YAMLDecoder().decode(ClientConfig.self, from: text)
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
            return config.resolvingPaths(against: directory)
        } catch {
            throw .configuration("client config \(path) is not valid: \(error); it needs server, ca, certificate and key")
        }
    }

    /// `resolvePath` then `load`.
    public static func load(explicit: String?) throws(GatehouseClientError) -> ClientConfig {
        try Self.load(path: try Self.resolvePath(explicit: explicit))
    }
}
