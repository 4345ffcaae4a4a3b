import Foundation
import GatehouseRPC
import Yams

/// A client config file (`server`, `ca`, `certificate`, `key`: what gatectl's
/// `--config` and the SDK read, `ClientConfigLoader`) written beside a client
/// certificate `gatehouse certs client` issues, so the certificate is usable at once.
public enum ClientConfigFile {
    /// The file exists and `overwrite` was not given.
    public struct Exists: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(self.path) exists; pass --force to replace it" }
    }

    /// Writes the config to `path` (mode 0600, atomically). Paths in it are
    /// written as given: relative ones are read relative to the config file's directory.
    /// - Throws: ``Exists`` when `path` exists and `overwrite` is false.
    public static func write(server: String, ca: String, certificate: String, key: String, to path: String, overwrite: Bool, comment: String) throws {
        if !overwrite, FileManager.default.fileExists(atPath: path) { throw Exists(path: path) }
        let config = ClientConfig(server: server, ca: ca, certificate: certificate, key: key)
        _ = try config.hostAndPort()
        let yaml = comment.split(separator: "\n").map { "# \($0)\n" }.joined() + (try YAMLEncoder().encode(config))
        try PrivateFile.write(yaml, to: path, mode: 0o600)
    }
}
