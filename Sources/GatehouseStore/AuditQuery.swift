/// Which audit records to read: every filter that is set must match.
public struct AuditQuery: Hashable, Sendable {
    /// Only entries naming this subject (see ``AuditEntry/subjects``).
    public var subject: String?
    /// Only entries naming every one of these subjects as well.
    public var alsoSubjects: [String] = []
    /// Oldest first (paging forward) instead of newest first; `limit` then keeps the oldest.
    public var oldestFirst = false
    /// Only entries by this actor.
    public var actor: String?
    /// Only entries whose revision lies in this range.
    public var revisions: ClosedRange<Revision>?
    /// At most this many records; zero or less returns none.
    public var limit: Int

    public init(
        subject: String? = nil,
        actor: String? = nil,
        revisions: ClosedRange<Revision>? = nil,
        limit: Int = 100
    ) {
        self.subject = subject
        self.actor = actor
        self.revisions = revisions
        self.limit = limit
    }
}
