import ArgumentParser

/// `gatectl disable FEATURE`: turns a feature off at a component, an instance, or everywhere.
struct Disable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a feature off for a component, one instance, or (with --global) everywhere.",
        discussion: """
            Writes an override at one scope; narrower scopes win (instance > component >
            global). There is no implicit global scope: without --component you must say
            --global, so a forgotten flag cannot switch a feature off across the fleet.

            Refusals (exit 65) name the fix: a locked gate, features that need this one
            and are still on there (disable them first, or in the same `gatectl set`),
            a bad --param value, a stale --expected-revision. An unknown feature exits
            66, a caller without the operator role 77.

            Disabling what is already so commits nothing: it prints "unchanged" and
            exits 0. An override for a component that no feature or API names and no
            instance has registered is refused as a likely typo (exit 66, suggesting
            the closest known name); --force writes it anyway. `gatectl unset` removes
            an override.

            Examples:
              gatectl disable InPlacePodVerticalScaling --component kubelet \\
                  --reason "rollback: OOMs"
              gatectl disable SidecarContainers --component kubelet --instance node-17 \\
                  --reason "debugging node-17"
              gatectl disable ContextualLogging --global --reason "log volume" \\
                  --expected-revision 42
              gatectl disable UserNamespacesSupport --component kubelet \\
                  --reason "check" --dry-run

            An API changes on every live replica of a component together with
            --api G/V --two-phase: each replica is asked to prepare, and only when
            all answer ready is the change committed, at one revision. A replica
            that refuses, or --timeout (default 30s), aborts it: nothing changes
            (exit 65, naming the replicas and what they said).
              gatectl disable --api batch/v1beta1 --component kube-apiserver \\
                  --two-phase --timeout 30s --reason "retire v1beta1"
            """
    )

    @OptionGroup var options: ToggleOptions

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            try await self.options.toggle(enabled: false, global: self.global)
        }
    }
}
