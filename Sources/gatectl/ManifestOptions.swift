import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore

/// `-f FILE [--prune]`: the manifest `apply` and `diff` compare with the server.
struct ManifestOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .customLong("filename")], help: ArgumentHelp("The manifest: a GateState YAML file (`gatectl export` writes one), or - for stdin.", valueName: "file"))
    var file: String

    @Flag(name: .long, help: "Also remove every override the server holds that the file does not list (without it, those are left alone).")
    var prune = false

    /// How refusals name the file.
    var displayName: String { self.file == "-" ? "<stdin>" : self.file }

    /// Reads the file, then the server's overrides, and compares them (what apply would send).
    func diff(client: GatehouseClient) async throws -> (server: ServerManifest, diff: ManifestDiff) {
        let text = try InputFile.read(self.file, as: "the manifest")
        let plan = try await client.planApply(yaml: text, file: self.displayName, prune: self.prune, reason: "")
        return (plan.server, plan.diff)
    }

    /// The example every manifest command's help shows.
    static let example = """
        apiVersion: gatehouse/v1
        kind: GateState
        global:
          features:
            ContextualLogging: true
          apis:
            api/alpha: false
        components:
          kubelet:
            features:
              GracefulNodeShutdown:
                enabled: true
                parameters:
                  shutdown_grace_period: 45s
            instances:
              node-17:
                features:
                  SidecarContainers: false
          kube-apiserver:
            apis:
              batch/v1beta1: true
        """

    /// The format, for help texts (indented under the discussion).
    static var formatHelp: String {
        """
        The file lists overrides per scope: global, components.<name>, and
        components.<name>.instances.<id>. A feature is true or false, or a mapping
        with enabled (leave it out to set only parameters) and parameters (written
        as --param takes them: 45s, 50, true, a word). APIs are --runtime-config
        keys (api/alpha, batch/v1beta1, apps/v1/deployments) set to true or false.
        Unknown keys, undefined features and bad values are refused with their
        file:line:column.

        \(Self.example.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """
    }
}

/// `gatectl export`: the server's overrides as a manifest.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every override the server holds as a GateState manifest (the format apply and diff read).",
        discussion: """
            The output is YAML, sorted, without stamps (who set what, when, why: see
            `gatectl history`), so it can be kept in version control; applying it back
            changes nothing. Rollouts are not overrides and are not exported.

            \(ManifestOptions.formatHelp)

            Examples:
              gatectl export > gates.yaml
              gatectl export | gatectl diff -f -
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let server = try await self.global.withClient { try await $0.serverManifest() }
            print(server.manifest.yaml(), terminator: "")
        }
    }
}

/// `gatectl diff -f FILE`: what apply would change.
struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what `gatectl apply -f FILE` would change, one line per override (+ added, - removed, ~ changed).",
        discussion: """
            Exits 0 when the server already matches the file, 1 when apply would change
            something (as kubectl diff does), and with the usual codes on errors (65 a
            bad file, 66 a file that cannot be read). Without --prune, overrides the
            file does not list are left out, as apply would leave them alone.

            \(ManifestOptions.formatHelp)

            Examples:
              gatectl diff -f gates.yaml
              gatectl diff -f gates.yaml --prune
            """
    )

    @OptionGroup var manifest: ManifestOptions

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var differs = false
        try await ExitStatus.run {
            let (_, diff) = try await self.global.withClient { try await self.manifest.diff(client: $0) }
            for entry in diff.entries {
                print(ControlCharacters.escaped(entry.line))
            }
            differs = !diff.isEmpty
        }
        if differs { throw ExitCode(1) }
    }
}

/// `gatectl apply -f FILE`: makes the server's overrides what the file says, in one atomic batch.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the server's overrides match a GateState manifest, as one atomic batch.",
        discussion: """
            Reads the server's overrides at revision N, computes the changes, and sends
            them as ONE Features/Set with expected_revision N: they commit together or
            not at all, and if anything changed on the server since N the batch is
            refused (exit 65: read again by re-running apply). When nothing differs,
            nothing is sent and it prints "unchanged" (exit 0). Without --prune,
            overrides the file does not list are left alone; with it they are removed.
            Every check of enable/disable applies (locks, dependencies, version skew;
            a component nothing knows needs --force). One batch holds at most the
            server's --max-changes-per-set changes (32 by default).

            \(ManifestOptions.formatHelp)

            Examples:
              gatectl export > gates.yaml      # edit it, then:
              gatectl diff -f gates.yaml
              gatectl apply -f gates.yaml --reason "enable sidecars on node-17"
              gatectl apply -f gates.yaml --prune --reason "gates.yaml is the truth"
              gatectl apply -f gates.yaml --dry-run --reason "check" -o json
            """
    )

    @OptionGroup var manifest: ManifestOptions

    @Option(name: .long, help: "Why, recorded on every override written and in the audit trail (required).")
    var reason: String

    @Flag(name: .long, help: "Run every check on the server and show what would change, but commit nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Allow overrides for components that no feature or API names and no instance has registered.")
    var force = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try ReasonArgument.validate(self.reason)
    }

    func run() async throws {
        try await ExitStatus.run {
            let text = try InputFile.read(self.manifest.file, as: "the manifest")
            let (response, diff) = try await self.global.withClient { client -> (Gatehouse_V1_SetResponse, ManifestDiff) in
                let plan = try await client.planApply(
                    yaml: text,
                    file: self.manifest.displayName,
                    prune: self.manifest.prune,
                    reason: self.reason,
                    dryRun: self.dryRun,
                    allowUnknownComponents: self.force
                )
                return (try await client.apply(plan), plan.diff)
            }
            try Printer.print(response, as: self.global.output) {
                let lines = diff.entries.map { ControlCharacters.escaped($0.line) + "\n" }.joined()
                let heading: String
                switch (response.unchanged, self.dryRun) {
                case (true, _): heading = "unchanged at revision \(response.revision): the server already matches \(self.manifest.file)\n"
                case (false, true): heading = "dry run at revision \(response.revision): would apply, nothing committed\n"
                case (false, false): heading = "applied at revision \(response.revision)\n"
                }
                return heading + lines
            }
        }
    }
}
