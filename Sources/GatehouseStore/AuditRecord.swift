/// What a committed change says about itself; the store adds its revision.
///
/// Built by the transform together with the new state, so the entry always
/// describes exactly the change it is committed with. The time is passed in
/// (the engine has no clock) so tests and replays are deterministic.
public struct AuditEntry: Hashable, Sendable {
    /// Wall-clock time of the change, milliseconds since 1970-01-01 UTC.
    public var timeUnixMilliseconds: Int64
    /// Who asked for it: the client certificate's identity.
    public var actor: String
    /// The RPC method, e.g. `/gatehouse.v1.Features/Set`.
    public var method: String
    /// The reason the actor gave.
    public var reason: String
    /// The affected objects before the change, encoded by the layer above.
    public var before: [UInt8]
    /// The affected objects after the change, encoded by the layer above.
    public var after: [UInt8]
    /// Names the entry is about (features, components, …), for ``AuditQuery/subject``.
    public var subjects: [String]

    public init(
        timeUnixMilliseconds: Int64,
        actor: String,
        method: String,
        reason: String,
        before: [UInt8] = [],
        after: [UInt8] = [],
        subjects: [String] = []
    ) {
        self.timeUnixMilliseconds = timeUnixMilliseconds
        self.actor = actor
        self.method = method
        self.reason = reason
        self.before = before
        self.after = after
        self.subjects = subjects
    }
}

/// A committed audit entry: the ``AuditEntry`` and the revision of its batch.
public struct AuditRecord: Hashable, Sendable {
    public var revision: Revision
    public var entry: AuditEntry

    public init(revision: Revision, entry: AuditEntry) {
        self.revision = revision
        self.entry = entry
    }
}
