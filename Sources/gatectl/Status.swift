import ArgumentParser
import GatehouseClient

/// `gatectl status [FEATURE]`: how far each component's replicas have converged.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show convergence: how many replicas of each component applied the latest change.",
        discussion: """
            With FEATURE, an instance has converged once it acked the revision that last
            changed that feature for it, and ENABLED counts the connected instances on
            which the feature resolves on. Without FEATURE, its whole state counts.
            An instance whose latest ack is a NACK is not converged; LAGGING names
            (up to 20) connected instances that have not converged.

            Examples:
              gatectl status InPlacePodVerticalScaling
              gatectl status --component kubelet
              gatectl status SidecarContainers -o json
            """
    )

    @Argument(help: "Only the convergence of this feature.", completion: Completions.features)
    var feature: String?

    @Option(name: .long, help: ArgumentHelp("Only this component.", valueName: "name"), completion: Completions.components)
    var component: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let request = Gatehouse_V1_ConvergenceRequest.with {
                $0.component = self.component ?? ""
                $0.feature = self.feature ?? ""
            }
            let response = try await self.global.withClient { try await $0.convergence(request) }
            try Printer.print(response, as: self.global.output) { self.table(response, wide: self.global.output == .wide) }
        }
    }

    /// - Parameter wide: `-o wide` adds INSTANCES (connected or not), TARGET (the
    ///   revision the instances must have applied) and MIN APPLIED (the furthest behind).
    func table(_ response: Gatehouse_V1_ConvergenceResponse, wide: Bool = false) -> String {
        var header = ["COMPONENT"]
        if self.feature != nil { header.append("ENABLED") }
        header += ["CONVERGED", "NACKED", "DISCONNECTED", "LAGGING"]
        if wide { header += ["INSTANCES", "TARGET", "MIN APPLIED"] }
        let rows = response.components.map { entry -> [String] in
            var row = [entry.component]
            if self.feature != nil { row.append("\(entry.enabled)/\(entry.connected)") }
            let target = entry.targetRevision == 0 ? "" : " applied r\(entry.targetRevision)"
            row += [
                "\(entry.converged)/\(entry.connected)\(target)",
                "\(entry.nacked)",
                "\(entry.instances - entry.connected)",
                entry.laggingInstanceIds.isEmpty ? "-" : entry.laggingInstanceIds.joined(separator: ","),
            ]
            if wide {
                row += [
                    "\(entry.instances)",
                    entry.targetRevision == 0 ? "-" : "r\(entry.targetRevision)",
                    entry.connected == 0 ? "-" : "r\(entry.minAppliedRevision)",
                ]
            }
            return row
        }
        let subject = self.feature.map { "feature \($0)" } ?? "any state"
        return Format.table(header: header, rows: rows, empty: "no registered instances for \(subject) (server at r\(response.revision))")
    }
}
