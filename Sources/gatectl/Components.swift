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
            A single server over SQLite keeps the list across restarts: after one, the instances known
            before are listed as not connected, with when they were last seen, until they reconnect;
            one disconnected longer than `gatehouse serve --instance-retention` (a day) is forgotten.
            With several servers over etcd the list is the whole fleet, and SERVER names the server
            each instance is connected to (or was last); a server's instances leave the list when it
            stops, at once on a clean shutdown, after the etcd lease TTL (10 s) when it dies.

            Examples:
              gatectl components
              gatectl components kubelet --connected
              gatectl components -o json | jq '.instances[] | select(.nacks)'
            """
    )

    @Argument(help: "Only instances of this component.", completion: Completions.components)
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
            try Printer.print(response, as: self.global.output) { Self.table(response, wide: self.global.output == .wide) }
        }
    }

    /// The instances as a table; a SERVER column (the Gatehouse server each is
    /// connected to) only when some instance names one: several servers over etcd.
    /// `-o wide` always has SERVER, and adds LAST SEEN (also for connected instances),
    /// REGISTERED, IDENTITY (the certificate CN it last called with) and NACKS (how many kept).
    static func table(_ response: Gatehouse_V1_ListComponentsResponse, wide: Bool = false) -> String {
        let servers = wide || response.instances.contains { !$0.server.isEmpty }
        let rows = response.instances.map { instance -> [String] in
            var row = [
                instance.component,
                instance.instanceID,
                instance.version.isEmpty ? "-" : instance.version,
                instance.connected ? "yes" : "no (last seen \(Format.time(unixMs: instance.lastSeenUnixMs)))",
            ]
            if servers { row.append(instance.server.isEmpty ? "-" : instance.server) }
            row += [
                instance.pushedRevision == 0 ? "-" : "r\(instance.pushedRevision)",
                instance.appliedRevision == 0 ? "-" : "r\(instance.appliedRevision)",
                instance.nacks.first.map { "r\($0.revision) \($0.error.reason): \($0.error.message)" } ?? "-",
                Self.health(instance),
                instance.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
            ]
            if wide {
                row += [
                    instance.lastSeenUnixMs == 0 ? "-" : Format.time(unixMs: instance.lastSeenUnixMs),
                    instance.registeredAtUnixMs == 0 ? "-" : Format.time(unixMs: instance.registeredAtUnixMs),
                    instance.identity.isEmpty ? "-" : instance.identity,
                    "\(instance.nacks.count)",
                ]
            }
            return row
        }
        var header = ["COMPONENT", "INSTANCE", "VERSION", "CONNECTED"]
        if servers { header.append("SERVER") }
        header += ["PUSHED", "APPLIED", "NACK", "HEALTH", "LABELS"]
        if wide { header += ["LAST SEEN", "REGISTERED", "IDENTITY", "NACKS"] }
        return Format.table(
            header: header,
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
