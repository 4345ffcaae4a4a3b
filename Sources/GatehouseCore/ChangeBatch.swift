/// Changes applied together, at one revision, or not at all.
///
/// Validation looks at the state *after* the whole batch, so "enable A and
/// the B it needs" is one acceptable batch, and so is "disable B and the A
/// that needs it".
public struct ChangeBatch: Hashable, Sendable {
    public var changes: [Change]
    /// Commit only if the state is still at this revision (conditional write); nil commits at any.
    public var expectedRevision: Revision?
    /// Why, recorded on every override it writes and in the audit trail.
    public var reason: String
    /// Who: the caller's identity (client certificate CN).
    public var actor: String
    /// Whether overrides may be written for a component no feature or API names and no
    /// instance has registered (`gatectl --force`): false refuses them as `UNKNOWN_COMPONENT`.
    public var allowsUnknownComponents: Bool

    public init(changes: [Change], expectedRevision: Revision? = nil, reason: String = "", actor: String, allowsUnknownComponents: Bool = false) {
        self.changes = changes
        self.expectedRevision = expectedRevision
        self.reason = reason
        self.actor = actor
        self.allowsUnknownComponents = allowsUnknownComponents
    }

    /// A batch that defines every feature and API of `catalog` (creating or replacing them).
    public static func importing(_ catalog: Catalog, actor: String, reason: String = "catalog import", expectedRevision: Revision? = nil) -> ChangeBatch {
        ChangeBatch(
            changes: catalog.features.map(Change.defineFeature) + catalog.apis.map(Change.defineAPI),
            expectedRevision: expectedRevision,
            reason: reason,
            actor: actor
        )
    }

    /// Whether only an admin may apply it.
    public var requiresAdmin: Bool {
        self.changes.contains(where: \.requiresAdmin)
    }
}
