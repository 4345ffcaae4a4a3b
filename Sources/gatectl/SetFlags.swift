import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// `gatectl set COMPONENT --feature-gates=… --runtime-config=…`: Kubernetes' own flags, as one batch.
struct SetFlags: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Apply Kubernetes-style --feature-gates and --runtime-config to a component, as one atomic batch.",
        discussion: """
            The flags take what kube-apiserver and the kubelet take:
              --feature-gates=A=true,B=false
                  booleans as Go's ParseBool: true, false, 1, 0, t, f
              --runtime-config=KEY[=BOOL],...
                  KEY is api/all, api/alpha, api/beta, api/ga, group/version
                  or group/version/resource; a KEY alone means true
            Every entry becomes an override at the component (or, with --instance, at one
            instance), and all of them go to the server in ONE Features/Set: they commit
            together at one revision, or nothing does. Checks see the state after the whole
            batch, so enabling a feature and the one it needs together is accepted.

            A batch whose every entry is already in effect commits nothing and prints
            "unchanged" (exit 0). A component no feature or API names and no instance has
            registered is refused as a likely typo (exit 66, with the closest known name);
            --force writes it anyway.

            Exit codes: 65 refused (malformed flag, locked gate, unmet dependency, stale
            --expected-revision), 66 unknown feature or API, 77 not an operator.

            Examples:
              gatectl set kube-apiserver \\
                  --feature-gates=ProcMountType=true,UserNamespacesSupport=true \\
                  --reason "user namespaces"
              gatectl set kube-apiserver \\
                  --runtime-config=api/alpha=true,batch/v1beta1=false --reason "alpha APIs"
              gatectl set kubelet --instance node-17 \\
                  --feature-gates=KubeletTracing=false --reason "noisy node"
              gatectl set kube-apiserver --feature-gates=MutatingAdmissionPolicy=true \\
                  --runtime-config=batch/v1beta1=true --reason "check" --dry-run -o json
            """
    )

    @Argument(help: "The component the flags are for, e.g. kube-apiserver.", completion: Completions.components)
    var component: String

    @Option(name: .long, help: ArgumentHelp("Only this instance of the component, e.g. node-17.", valueName: "id"))
    var instance: String?

    @Option(name: .customLong("feature-gates"), help: ArgumentHelp("Feature gates, as Kubernetes writes them: A=true,B=false.", valueName: "gates"))
    var featureGates: String?

    @Option(name: .customLong("runtime-config"), help: ArgumentHelp("APIs, as Kubernetes writes them: api/alpha=true,batch/v1beta1=false.", valueName: "config"))
    var runtimeConfig: String?

    @Option(name: .long, help: "Why, recorded on every override and in the audit trail (required).")
    var reason: String

    @OptionGroup var write: WriteOptions

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try ReasonArgument.validate(self.reason)
        guard self.featureGates != nil || self.runtimeConfig != nil else {
            throw ValidationError("nothing to set: give --feature-gates and/or --runtime-config")
        }
    }

    /// The override changes, parsed by the domain's own flag parsers.
    func batch() throws(GateError) -> ChangeBatch {
        let scope: Scope = self.instance.map { .instance(component: self.component, id: $0) } ?? .component(self.component)
        return try ChangeBatch.fromFlags(
            featureGates: self.featureGates,
            runtimeConfig: self.runtimeConfig,
            scope: scope,
            actor: "",  // the server takes the actor from the client certificate
            reason: self.reason,
            expectedRevision: self.write.expectedRevision.map { Revision($0) }
        )
    }

    func run() async throws {
        try await ExitStatus.run {
            var request = try self.batch().wireSetRequest
            self.write.apply(to: &request, reason: self.reason)
            let response = try await self.global.withClient { try await $0.set(request) }
            try Printer.print(response, as: self.global.output) { SetResult.text(response, dryRun: self.write.dryRun) }
        }
    }
}
