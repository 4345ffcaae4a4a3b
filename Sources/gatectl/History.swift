import ArgumentParser
import GatehouseClient

/// `gatectl history [FEATURE]`: the audit trail of committed changes.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the audit trail: who changed what, when, and why, one row per committed batch.",
        discussion: """
            Oldest first unless --newest-first. A batch changes many objects; CHANGES lists
            them (created, updated or removed, by kind and name). gatectl follows the
            server's pages until --limit entries (or all of them with --limit 0); -o json
            prints them as one response.

            Examples:
              gatectl history
              gatectl history InPlacePodVerticalScaling
              gatectl history --component kubelet --newest-first --limit 10
              gatectl history --actor alice --after 100 -o json
            """
    )

    @Argument(help: "Only batches that touched this feature (its definition or its overrides).", completion: Completions.features)
    var feature: String?

    @Option(name: .long, help: "Only batches that touched this component's overrides or its instances'.", completion: Completions.components)
    var component: String?

    @Option(name: .long, help: "Only batches made by this identity (certificate CN).")
    var actor: String?

    @Option(name: .long, help: ArgumentHelp("Only revisions after this one.", valueName: "revision"))
    var after: UInt64?

    @Option(name: .long, help: ArgumentHelp("Only revisions before this one.", valueName: "revision"))
    var before: UInt64?

    @Option(name: .long, help: "At most this many entries; 0 for every one (fetched page by page).")
    var limit: Int = 100

    @Flag(name: .long, help: "Newest first.")
    var newestFirst = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let request = Gatehouse_V1_HistoryRequest.with { request in
                request.feature = self.feature ?? ""
                request.component = self.component ?? ""
                request.actor = self.actor ?? ""
                if let after = self.after { request.afterRevision = after }
                if let before = self.before { request.beforeRevision = before }
                // Pages no larger than needed; the server caps them at 1000 and at what fits a frame.
                request.limit = self.limit > 0 ? UInt32(min(self.limit, 1_000)) : 0
                request.newestFirst = self.newestFirst
            }
            let maximum = self.limit > 0 ? self.limit : nil
            let response = try await self.global.withClient { try await $0.history(request, maximumEntries: maximum) }
            try Printer.print(response, as: self.global.output) { Self.table(response) }
        }
    }

    static func table(_ response: Gatehouse_V1_HistoryResponse) -> String {
        var text = Format.table(
            header: ["REVISION", "TIME", "ACTOR", "METHOD", "CHANGES", "REASON"],
            rows: response.entries.map { entry in
                [
                    "\(entry.revision)",
                    Format.time(unixMs: entry.timeUnixMs),
                    entry.actor,
                    Format.method(entry.method),
                    Self.changes(entry.changes),
                    entry.reason.isEmpty ? "-" : entry.reason,
                ]
            },
            empty: "no matching history (current revision \(response.revision))"
        )
        if response.more { text += "(more entries match: raise --limit, or --limit 0 for all)\n" }
        return text
    }

    /// All the changes when few, else the first ones and a count: a catalog import touches hundreds.
    static func changes(_ changes: [String]) -> String {
        guard changes.count > 3 else { return changes.isEmpty ? "-" : changes.joined(separator: "; ") }
        return changes.prefix(2).joined(separator: "; ") + "; … \(changes.count - 2) more"
    }
}
