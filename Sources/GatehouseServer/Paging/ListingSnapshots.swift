import GatehouseCore
import Synchronization

/// The states that paged listings were first read at, kept a while so their
/// later pages come from the same state (one consistent listing), as etcd
/// serves a paged range at the revision of its first page.
///
/// Only a few are kept, newest first; a listing whose state was dropped goes
/// on from the current state in key order (PROTOCOL.md 6.2). `GateState`
/// shares its override trees with the states after it, so a kept state
/// costs what changed since, not a copy of everything.
final class ListingSnapshots: Sendable {
    private let kept: Mutex<[GateState]>
    let capacity: Int

    init(capacity: Int = 8) {
        self.kept = Mutex([])
        self.capacity = capacity
    }

    /// Keeps `state` for the later pages of a listing read at its revision.
    func keep(_ state: GateState) {
        self.kept.withLock { kept in
            if let index = kept.firstIndex(where: { $0.revision == state.revision }) {
                kept.remove(at: index)
            }
            kept.insert(state, at: 0)
            if kept.count > self.capacity { kept.removeLast(kept.count - self.capacity) }
        }
    }

    /// The state at `revision`, when still kept.
    func state(at revision: Revision) -> GateState? {
        self.kept.withLock { kept in kept.first { $0.revision == revision } }
    }
}
