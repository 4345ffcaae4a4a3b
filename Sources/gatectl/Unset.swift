import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// `gatectl unset FEATURE`: removes an override, handing the decision back to wider scopes.
struct Unset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a feature's (or, with --api, an API's) override at one scope: the undo of enable, disable and set.",
        discussion: """
            Deletes the override at exactly the scope given; the value then comes from
            the next wider scope (instance > component > global), a rollout, or the
            default, as `gatectl explain` shows. Its parameters go with it.

            Removing an override that does not exist changes nothing: it prints
            "unchanged" and exits 0, so a script may unset without checking first.

            Examples:
              gatectl unset InPlacePodVerticalScaling --component kubelet \\
                  --reason "canary over"
              gatectl unset SidecarContainers --component kubelet --instance node-17 \\
                  --reason "node-17 debugged"
              gatectl unset ContextualLogging --global --reason "back to the default"
              gatectl unset --api batch/v1beta1 --component kube-apiserver \\
                  --reason "back to the stage default"
              gatectl unset ProcMountType --component kubelet --reason "check" --dry-run
            """
    )

    @Argument(help: "The feature whose override to remove, e.g. InPlacePodVerticalScaling; or none, with --api.")
    var feature: String?

    @Option(name: .long, help: ArgumentHelp("An API selector instead of a feature: api/alpha, batch/v1beta1, apps/v1/deployments.", valueName: "selector"))
    var api: String?

    @OptionGroup var scope: ScopeOptions

    @Option(name: .long, help: "Why, recorded in the audit trail (required).")
    var reason: String

    @OptionGroup var write: WriteOptions

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try ReasonArgument.validate(self.reason)
        switch (self.feature, self.api) {
        case (nil, nil): throw ValidationError("name a feature, or an API with --api SELECTOR")
        case (_?, _?): throw ValidationError("name a feature or --api, not both")
        case (_?, nil), (nil, _?): break
        }
    }

    /// The one change this command sends: a removal at the scope.
    func change() throws(GateError) -> Change {
        if let api {
            return .clearAPI(try APISelector(parsing: api), scope: self.scope.scope)
        }
        return .clearFeature(self.feature ?? "", scope: self.scope.scope)
    }

    func run() async throws {
        try await ExitStatus.run {
            var request = ChangeBatch(changes: [try self.change()], actor: "").wireSetRequest
            self.write.apply(to: &request, reason: self.reason)
            let response = try await self.global.withClient { try await $0.set(request) }
            try Printer.print(response, as: self.global.output) { SetResult.text(response, dryRun: self.write.dryRun) }
        }
    }
}
