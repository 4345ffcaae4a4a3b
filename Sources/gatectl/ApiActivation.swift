import ArgumentParser
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// `enable|disable --api G/V --component C --two-phase`: switches an API on
/// every live replica of a component together (Apis/Activate, PROTOCOL.md 3.8).
///
/// Kubernetes #96486: apiservers enabled one by one disagree about which
/// APIs exist until the last one restarts. Here each replica is asked to
/// prepare first; only when all are ready is the change committed, as one
/// revision every replica is pushed.
struct ApiActivationOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("An API instead of a feature: group/version or group/version/resource, e.g. batch/v1beta1 (needs --two-phase).", valueName: "api"))
    var api: String?

    @Flag(
        name: .customLong("two-phase"),
        help: "Ask every live replica of --component to prepare first; commit only when all are ready (with --api). --timeout is how long they have (default 30s, at most 10m)."
    )
    var twoPhase = false

    /// Checks the combination with the rest of enable/disable's options.
    func validate(feature: String?, scope: ScopeOptions, params: [String], write: WriteOptions) throws {
        guard let api else {
            guard feature != nil else { throw ValidationError("name a feature, or an API with --api G/V --two-phase") }
            guard !self.twoPhase else { throw ValidationError("--two-phase is for APIs: add --api G/V (features change with a plain enable/disable)") }
            return
        }
        guard feature == nil else { throw ValidationError("name a feature or --api, not both") }
        guard self.twoPhase else {
            throw ValidationError("--api needs --two-phase; for a plain override use `gatectl set \(scope.component ?? "COMPONENT") --runtime-config \(api)=true`")
        }
        guard scope.component != nil, scope.instance == nil, !scope.global else {
            throw ValidationError("--two-phase activates every replica of one component: give --component NAME (no --instance, no --global)")
        }
        guard params.isEmpty else { throw ValidationError("--param is for features; an API has no parameters") }
        guard !write.dryRun, write.expectedRevision == nil else {
            throw ValidationError("--two-phase takes neither --dry-run nor --expected-revision: its refusals come before any replica is asked")
        }
    }

    /// Sends Apis/Activate and prints the replicas that prepared and the revision.
    func activate(enabled: Bool, component: String, reason: String, global: GlobalOptions) async throws {
        let ref = try APIRef(parsing: self.api ?? "")
        if let timeout = global.timeout, timeout.milliseconds > 600_000 {
            throw ValidationError("--timeout: replicas may be given at most 10m to prepare")
        }
        let response = try await global.withClient { client in
            try await client.activateAPI(ref.wire, component: component, enabled: enabled, timeout: global.timeout?.duration, reason: reason)
        }
        try Printer.print(response, as: global.output) {
            Self.text(response, api: ref, component: component, enabled: enabled)
        }
    }

    static func text(_ response: Gatehouse_V1_ActivateApiResponse, api: APIRef, component: String, enabled: Bool) -> String {
        let state = enabled ? "enabled" : "disabled"
        guard !response.prepared.isEmpty else {
            return "\(api) \(state) on \(component) at revision \(response.revision); no replica was connected, so none was asked to prepare\n"
        }
        let heading = "\(api) \(state) on \(component) at revision \(response.revision); \(response.prepared.count) replicas prepared"
        return heading + "\n" + Printer.table(header: ["PREPARED"], rows: response.prepared.map { [$0] })
    }
}
