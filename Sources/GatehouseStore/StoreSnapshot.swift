/// The latest committed state and the revision it reflects: the store's read view.
///
/// Immutable, so a reader holds it as long as it likes while the writer
/// publishes newer ones; it plays the role of etcd's `ReadView` pinned at `Rev()`.
public struct StoreSnapshot<State: Sendable>: Sendable {
    public var revision: Revision
    public var state: State

    public init(revision: Revision, state: State) {
        self.revision = revision
        self.state = state
    }
}
