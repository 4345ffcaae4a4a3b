import ArgumentParser

/// `gatectl enable FEATURE`: turns a feature on at a component, an instance, or everywhere.
struct Enable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a feature on for a component, one instance, or (with --global) everywhere.",
        discussion: """
            Writes an override at one scope; narrower scopes win (instance > component >
            global). There is no implicit global scope: without --component you must say
            --global, so a forgotten flag cannot switch a feature on across the fleet.

            Refusals (exit 65) name the fix: a locked gate, a dependency that is off
            where the feature would be on, a replica older than the feature's minimum
            version, a bad --param value, a stale --expected-revision. An unknown feature
            exits 66, a caller without the operator role 77.

            Enabling what is already so commits nothing: it prints "unchanged" and
            exits 0. An override for a component that no feature or API names and no
            instance has registered is refused as a likely typo (exit 66, suggesting
            the closest known name); --force writes it anyway. `gatectl unset` removes
            an override.

            Examples:
              gatectl enable InPlacePodVerticalScaling --component kubelet \\
                  --reason "canary on kubelets"
              gatectl enable InPlacePodVerticalScaling --component kubelet \\
                  --instance node-17 --reason "try on one node"
              gatectl enable GracefulNodeShutdown --component kubelet \\
                  --param shutdown_grace_period=45s --reason "longer drains"
              gatectl enable ContextualLogging --global --reason "everywhere" \\
                  --expected-revision 42
              gatectl enable ProcMountType --component kubelet --reason "check" --dry-run

            An API changes on every live replica of a component together with
            --api G/V --two-phase: each replica is asked to prepare, and only when
            all answer ready is the change committed, at one revision. A replica
            that refuses, or --timeout (default 30s), aborts it: nothing changes
            (exit 65, naming the replicas and what they said).
              gatectl enable --api batch/v1beta1 --component kube-apiserver \\
                  --two-phase --timeout 30s --reason "serve CronJobs v1beta1"
            """
    )

    @OptionGroup var options: ToggleOptions

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            try await self.options.toggle(enabled: true, global: self.global)
        }
    }
}
