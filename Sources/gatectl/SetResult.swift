import GatehouseClient

/// How a Features/Set response reads: the revision, then one row per object changed.
enum SetResult {
    static func text(_ response: Gatehouse_V1_SetResponse, dryRun: Bool) -> String {
        let heading: String
        if dryRun {
            heading = response.applied.isEmpty
                ? "dry run at revision \(response.revision): nothing would change"
                : "dry run at revision \(response.revision): would apply, nothing committed"
        } else {
            heading = response.applied.isEmpty
                ? "nothing changed: already so at revision \(response.revision)"
                : "applied at revision \(response.revision)"
        }
        guard !response.applied.isEmpty else { return heading + "\n" }
        return heading + "\n" + Printer.table(header: ["CHANGE"], rows: response.applied.map { [$0] })
    }
}
