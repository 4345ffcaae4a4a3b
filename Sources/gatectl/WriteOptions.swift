import ArgumentParser
import GatehouseClient

/// What every change request carries besides its changes: why, a
/// condition on the current revision, and whether to commit at all.
struct WriteOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Commit only if the server is still at this revision (else refused, exit 65).", valueName: "n"))
    var expectedRevision: UInt64?

    @Flag(name: .long, help: "Run every check and show what would change, but commit nothing.")
    var dryRun = false

    @Flag(
        name: .long,
        help: "Write overrides for a component that no feature or API names and no instance has registered yet (else refused as a likely typo, exit 66)."
    )
    var force = false

    /// A Set request's condition, dry-run and force flags, set from these options.
    func apply(to request: inout Gatehouse_V1_SetRequest, reason: String) {
        request.reason = reason
        if let expectedRevision { request.expectedRevision = expectedRevision }
        request.dryRun = self.dryRun
        request.allowUnknownComponent = self.force
    }
}
