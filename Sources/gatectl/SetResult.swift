import GatehouseClient

/// How a Features/Set response reads: the revision, then one row per object changed
/// and one per change that was already in effect.
enum SetResult {
    static func text(_ response: Gatehouse_V1_SetResponse, dryRun: Bool) -> String {
        // A server older than the `unchanged` field answers an unchanged batch with no lines.
        let unchanged = response.unchanged || response.applied.isEmpty
        let heading: String
        if dryRun {
            heading = unchanged
                ? "dry run at revision \(response.revision): unchanged, every change is already in effect"
                : "dry run at revision \(response.revision): would apply, nothing committed"
        } else {
            heading = unchanged
                ? "unchanged at revision \(response.revision): every change is already in effect, nothing committed"
                : "applied at revision \(response.revision)"
        }
        guard !response.applied.isEmpty else { return heading + "\n" }
        return heading + "\n" + Printer.table(header: ["CHANGE"], rows: response.applied.map { [$0] })
    }
}
