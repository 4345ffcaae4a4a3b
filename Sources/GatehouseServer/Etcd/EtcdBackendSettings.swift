import Foundation
import GatehouseCore
import GatehouseEtcd

/// How a server reaches the etcd cluster it shares with the other servers
/// (`gatehouse serve --store etcd`), checked before anything starts.
///
/// Built from the flags as typed, so each refusal names the flag and the fix:
/// an operator who mistypes one endpoint learns it at start, not from a log
/// line after the first write times out.
public struct EtcdBackendSettings: Sendable, Hashable {
    /// Client URLs of etcd's members, `https://host:port` (IPv6 as `https://[::1]:2379`).
    public var endpoints: [EtcdEndpoint]
    /// The CA bundle etcd's server certificates chain to (PEM).
    public var trustRoots: String
    /// This server's client certificate for etcd (PEM): etcd runs with `--client-cert-auth`.
    public var certificateChain: String
    public var privateKey: String
    /// Every key Gatehouse writes starts with it; servers sharing a prefix share one state.
    public var prefix: String
    /// How long one etcd call may take before the caller is answered UNAVAILABLE.
    public var callTimeout: Duration
    /// This server's name among its peers (instances it holds, the rollout leader);
    /// nil uses the address it listens on, see ``serverID(host:port:)``.
    public var serverID: String?

    public static let defaultPrefix = "/gatehouse/"
    public static let defaultTimeout: Duration = .seconds(5)
    /// A server id is one etcd key segment and one table cell: bounded, printable, no `/`.
    public static let maxServerIDLength = 128

    public init(
        endpoints: [EtcdEndpoint],
        trustRoots: String,
        certificateChain: String,
        privateKey: String,
        prefix: String = EtcdBackendSettings.defaultPrefix,
        callTimeout: Duration = EtcdBackendSettings.defaultTimeout,
        serverID: String? = nil
    ) {
        self.endpoints = endpoints
        self.trustRoots = trustRoots
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.prefix = prefix
        self.callTimeout = callTimeout
        self.serverID = serverID
    }

    /// Settings from `gatehouse serve`'s flags, refused with a message naming the flag to fix.
    ///
    /// - Parameters:
    ///   - endpoints: `--etcd-endpoints`, comma-separated `https://host:port`.
    ///   - ca, certificate, key: `--etcd-ca`, `--etcd-cert`, `--etcd-key`: each must be a readable file.
    ///   - prefix: `--etcd-prefix`: must end with `/`, so `/a/` and `/ab/` never share keys.
    ///   - timeout: `--etcd-timeout` as people write durations (`5s`, `1500ms`).
    ///   - serverID: `--server-id`.
    public static func parse(
        endpoints: String?,
        ca: String?,
        certificate: String?,
        key: String?,
        prefix: String = EtcdBackendSettings.defaultPrefix,
        timeout: String = "5s",
        serverID: String? = nil
    ) throws(EtcdSettingsError) -> EtcdBackendSettings {
        guard let endpoints, !endpoints.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw EtcdSettingsError("--store etcd needs --etcd-endpoints: the client URLs of etcd's members, e.g. --etcd-endpoints https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379")
        }
        let missing = [("--etcd-ca", ca), ("--etcd-cert", certificate), ("--etcd-key", key)].filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty, let ca, let certificate, let key else {
            throw EtcdSettingsError("--store etcd needs \(missing.joined(separator: ", ")): etcd is reached over mutual TLS only; pass the CA that signed etcd's certificates and this server's client certificate and key")
        }
        let parsed: [EtcdEndpoint]
        do {
            parsed = try EtcdEndpoint.parseList(endpoints)
        } catch {
            throw EtcdSettingsError("--etcd-endpoints: \(error.message)")
        }
        for (flag, path) in [("--etcd-ca", ca), ("--etcd-cert", certificate), ("--etcd-key", key)] {
            try Self.checkReadable(path, flag: flag)
        }
        guard !prefix.isEmpty, prefix.hasSuffix("/") else {
            throw EtcdSettingsError("--etcd-prefix \"\(prefix)\" must end with \"/\" (e.g. /gatehouse/), so one prefix is never the start of another's keys")
        }
        guard let milliseconds = DurationText.milliseconds(timeout), Int64(timeout) == nil, milliseconds > 0 else {
            throw EtcdSettingsError("--etcd-timeout \"\(timeout)\" is not a positive duration with a unit, e.g. 5s or 1500ms")
        }
        if let serverID { try Self.checkServerID(serverID) }
        return EtcdBackendSettings(
            endpoints: parsed, trustRoots: ca, certificateChain: certificate, privateKey: key,
            prefix: prefix, callTimeout: .milliseconds(milliseconds), serverID: serverID
        )
    }

    private static func checkReadable(_ path: String, flag: String) throws(EtcdSettingsError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EtcdSettingsError("\(flag) \(path): no such file")
        }
        guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: path) else {
            throw EtcdSettingsError("\(flag) \(path): not a readable file (check its permissions for the user gatehouse runs as)")
        }
    }

    /// Refuses an id that cannot be one key segment: empty, too long, `/`, spaces or control characters.
    static func checkServerID(_ id: String) throws(EtcdSettingsError) {
        guard !id.isEmpty, id.utf8.count <= Self.maxServerIDLength,
            id.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7f && $0 != "/" })
        else {
            throw EtcdSettingsError("--server-id \"\(id)\" must be 1 to \(Self.maxServerIDLength) printable ASCII characters without spaces or \"/\", e.g. gatehouse-1 or 10.0.0.5:7443")
        }
    }

    /// The id this server goes by: ``serverID``, or the address it listens on
    /// (`host:port`, the port actually bound); a wildcard host (`0.0.0.0`, `::`)
    /// is replaced by the machine's host name, which peers and operators can tell apart.
    public func serverID(host: String, port: Int) -> String {
        if let serverID { return serverID }
        let named = ["0.0.0.0", "::", "[::]", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
        return named.contains(":") && !named.hasPrefix("[") ? "[\(named)]:\(port)" : "\(named):\(port)"
    }
}

/// A refused etcd setting; the message names the flag and how to fix it.
public struct EtcdSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
