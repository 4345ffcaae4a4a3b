import ArgumentParser
import GatehouseClient

/// `gatectl components [COMPONENT]`: registered instances, their liveness and what they applied.
struct Components: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List registered component instances: connected or last seen, pushed and applied revision, NACKs.",
        discussion: """
            An instance is CONNECTED while its subscription is open: that is its liveness.
            PUSHED is the last revision the server sent it, APPLIED the last one it acked.
            NACK shows the latest rejected revision and its reason; `-o json` has all of them.
            The list is kept in memory: after a server restart it fills again as instances reconnect.

            Examples:
              gatectl components
              gatectl components kubelet --connected
              gatectl components -o json | jq '.instances[] | select(.nacks)'
            """
    )

    @Argument(help: "Only instances of this component.")
    var component: String?

    @Flag(name: .long, help: "Only instances with an open subscription.")
    var connected = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let request = Gatehouse_V1_ListComponentsRequest.with {
                $0.component = self.component ?? ""
                $0.connectedOnly = self.connected
            }
            let response = try await self.global.withClient { try await $0.listComponents(request) }
            try Printer.print(response, as: self.global.output) { Self.table(response) }
        }
    }

    static func table(_ response: Gatehouse_V1_ListComponentsResponse) -> String {
        let rows = response.instances.map { instance -> [String] in
            [
                instance.component,
                instance.instanceID,
                instance.version.isEmpty ? "-" : instance.version,
                instance.connected ? "yes" : "no (last seen \(Format.time(unixMs: instance.lastSeenUnixMs)))",
                instance.pushedRevision == 0 ? "-" : "r\(instance.pushedRevision)",
                instance.appliedRevision == 0 ? "-" : "r\(instance.appliedRevision)",
                instance.nacks.first.map { "r\($0.revision) \($0.error.reason): \($0.error.message)" } ?? "-",
                Self.health(instance),
                instance.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
            ]
        }
        return Format.table(
            header: ["COMPONENT", "INSTANCE", "VERSION", "CONNECTED", "PUSHED", "APPLIED", "NACK", "HEALTH", "LABELS"],
            rows: rows,
            empty: "no instances registered (server at r\(response.revision))"
        )
    }

    /// The instance's latest health report: `-` before any, `healthy`, or
    /// `unhealthy (FeatureX): message`, naming what it blames (a rollout of it counts that).
    static func health(_ instance: Gatehouse_V1_ComponentInstance) -> String {
        guard instance.hasHealth else { return "-" }
        let health = instance.health
        guard !health.healthy else { return "healthy" }
        let blamed = health.entries.isEmpty ? "" : " (\(health.entries.joined(separator: ",")))"
        return "unhealthy\(blamed)" + (health.message.isEmpty ? "" : ": \(health.message)")
    }
}
