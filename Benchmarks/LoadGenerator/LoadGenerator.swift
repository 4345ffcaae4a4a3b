import ArgumentParser

/// `gatehouse-load`: drives a live server with concurrent writers over mTLS,
/// for the toggle benchmark and the crash test. Prints figures; asserts nothing.
@main
struct LoadGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse-load",
        abstract: "Concurrent durable writes against a live Gatehouse server.",
        subcommands: [ToggleBenchmark.self, CrashWriter.self]
    )
}
