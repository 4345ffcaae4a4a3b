/// A change to commit: the new state, the records that persist it, and its audit entry.
///
/// The state and the records must say the same thing: the state is what
/// readers see until the next restart, the records are what the state is
/// rebuilt from after it.
public struct StoreChange<State: Sendable>: Sendable {
    public var state: State
    public var records: [StoreRecord]
    public var audit: AuditEntry

    public init(state: State, records: [StoreRecord], audit: AuditEntry) {
        self.state = state
        self.records = records
        self.audit = audit
    }
}

/// What a transform decided: a change to commit, or nothing, and a result for its caller.
///
/// A transform is a pure function of the current state; the writer runs it on
/// its own thread against the working state of the group, so it must be quick
/// and must not block. Throwing refuses the submission: only its caller sees
/// the error and the working state stays as it was.
public struct Transformation<State: Sendable, Value: Sendable>: Sendable {
    /// The change, or nil when the submission changes nothing and takes no revision.
    public var change: StoreChange<State>?
    /// Returned to the caller once the outcome is durable.
    public var value: Value

    public init(change: StoreChange<State>?, value: Value) {
        self.change = change
        self.value = value
    }

    /// Commit `state`, persisted by `records` and described by `audit`; the batch gets the next revision.
    public static func commit(_ state: State, records: [StoreRecord], audit: AuditEntry, value: Value) -> Self {
        Self(change: StoreChange(state: state, records: records, audit: audit), value: value)
    }

    /// Change nothing (e.g. the value is already set) and take no revision, as an
    /// etcd transaction without writes does. The caller still waits until the
    /// state its transform saw is durable.
    public static func unchanged(_ value: Value) -> Self {
        Self(change: nil, value: value)
    }
}

extension Transformation where Value == Void {
    /// Commit `state` with nothing to return to the caller.
    public static func commit(_ state: State, records: [StoreRecord], audit: AuditEntry) -> Self {
        Self(change: StoreChange(state: state, records: records, audit: audit), value: ())
    }
}

/// The durable outcome of a submission.
public struct Committed<Value: Sendable>: Sendable {
    /// The batch's own revision when `changed`; otherwise the revision of the state the transform saw.
    public var revision: Revision
    /// Whether the submission committed a change (false for ``Transformation/unchanged(_:)``).
    public var changed: Bool
    /// What the transform returned.
    public var value: Value
    /// False when the writer goes on at once to complete more submissions of
    /// the same group: work a caller does per commit that wakes another
    /// thread (a subscription hub) can wait for the last one and wake it once.
    public var endsGroup: Bool

    public init(revision: Revision, changed: Bool, value: Value, endsGroup: Bool = true) {
        self.revision = revision
        self.changed = changed
        self.value = value
        self.endsGroup = endsGroup
    }
}
