import ArgumentParser

/// `gatehouse`: the server executable.
@main
struct Gatehouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "Feature gates and API activation for a distributed control plane.",
        discussion: """
            Components connect over mutual TLS, register, subscribe and are pushed the
            on/off state of the APIs and features that apply to them.

            Start a development server (creates ./gatehouse-data with certificates):
              gatehouse serve
            Then, from the same directory:
              gatectl info
            Verify a data directory's database (also while its server runs):
              gatehouse check --data-dir ./gatehouse-data
            """,
        subcommands: [Serve.self, Check.self, Certs.self]
    )
}
