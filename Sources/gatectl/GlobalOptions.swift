import ArgumentParser
import GatehouseClient

/// Options every gatectl command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Client config file (YAML: server, ca, certificate, key).")
    var config: String?

    @Option(name: .long, help: "Override the server address in the config, HOST:PORT.")
    var server: String?

    @Option(name: .long, help: "Seconds to wait for the server.")
    var timeout = 10.0

    @Option(name: [.short, .customLong("output")], help: "Output format: table, json or yaml.")
    var output: OutputFormat = .table

    /// Connects with the resolved config.
    func connect() async throws -> GatehouseClient {
        var config = try ClientConfigLoader.load(explicit: self.config)
        if let server { config.server = server }
        return try await GatehouseClient.connect(config: config, defaultTimeout: .milliseconds(Int64(self.timeout * 1000)))
    }
}

/// How results are printed: for people, or for pipes.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}
