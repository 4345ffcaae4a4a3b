import ArgumentParser

/// `gatehouse-load`: drives a live server with concurrent writers over mTLS,
/// for the toggle benchmark and the crash test. Prints figures; asserts nothing.
@main
struct LoadGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse-load",
        abstract: "Load against a live Gatehouse server: durable toggles, subscriber fan-out, the crash test's writer.",
        subcommands: [ToggleBenchmark.self, SubscriberBenchmark.self, RolloutStepBenchmark.self, CrashWriter.self]
    )
}
