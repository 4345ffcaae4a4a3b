import ArgumentParser
import Foundation
import GatehouseClient

/// Options every gatectl command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Client config file (YAML: server, ca, certificate, key).")
    var config: String?

    @Option(name: .long, help: "Override the server address in the config, HOST:PORT.")
    var server: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long to wait for the server, to connect (TCP and TLS handshake) and for each call: seconds, or with a unit (500ms, 30s, 2m); default 10s. With --two-phase, how long the replicas have to prepare (default 30s).",
            valueName: "time"
        )
    )
    var timeout: WaitTime?

    /// The calls' timeout: `--timeout`, or 10 s.
    var callTimeout: Duration { self.timeout?.duration ?? .seconds(10) }

    @Option(name: [.short, .customLong("output")], help: "Output format: table, wide (a table with more columns, where a command has them), json or yaml.")
    var output: OutputFormat = .table

    /// Connects with the resolved config.
    ///
    /// Problems with the config itself (no file, a bad address, a certificate or
    /// key that cannot be read or used) are `GatehouseClientError.configuration`
    /// (exit 78); a connection that cannot be set up is a ``ConnectionFailure``
    /// naming the config and server used and the likely fix (exit 69 when the
    /// server cannot be reached or does not answer in time, 78 when the certificates do not fit).
    func connect() async throws -> GatehouseClient {
        let path = try ClientConfigLoader.resolvePath(explicit: self.config)
        var config = try ClientConfigLoader.load(path: path)
        if let server { config.server = server }
        do {
            _ = try config.hostAndPort()
        } catch {
            throw GatehouseClientError.configuration("bad server address: \(error.message)")
        }
        let fixes = [
            "CA": "it is the server's CA certificate (gatehouse serve writes <data-dir>/pki/ca.crt)",
            "certificate": "issue one with `gatehouse certs client`, which writes the certificate, its key and a config",
            "key": "issue one with `gatehouse certs client`, which writes the certificate, its key and a config",
        ]
        for (what, file) in [("CA", config.ca), ("certificate", config.certificate), ("key", config.key)]
        where !FileManager.default.isReadableFile(atPath: file) {
            throw GatehouseClientError.configuration("cannot read the \(what) file \(file) named in \(path): \(fixes[what] ?? "")")
        }
        do {
            // --timeout bounds connecting, the TLS handshake and the server's HELLO too.
            return try await GatehouseClient.connect(config: config, defaultTimeout: self.callTimeout, connectTimeout: self.callTimeout)
        } catch let error as RPCError {
            throw ConnectionFailure(
                problem: ConnectionProblem(error),
                server: config.server,
                serverFromFlag: self.server != nil,
                configPath: path,
                config: config,
                timeout: self.callTimeout,
                underlying: error
            )
        } catch {
            // Not a call status: the TLS context could not be built from the config's files.
            let detail = ConnectionProblem.configurationDetail(error) ?? "\(error)"
            throw GatehouseClientError.configuration(
                "cannot use the CA \(config.ca), certificate \(config.certificate) and key \(config.key) named in \(path): \(detail). They must be PEM, the key the certificate's, as `gatehouse certs client` writes them"
            )
        }
    }

    /// Connects, runs `body` with the client, and closes the connection whatever happens.
    func withClient<T>(_ body: (GatehouseClient) async throws -> T) async throws -> T {
        let client = try await self.connect()
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }
}

/// How results are printed: for people, or for pipes.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    /// `wide` is a table with more columns (`components`, `status`, `features list`);
    /// elsewhere it is the table.
    case table, wide, json, yaml

    /// Whether it is a table, plain or wide.
    var isTable: Bool { self == .table || self == .wide }
}
