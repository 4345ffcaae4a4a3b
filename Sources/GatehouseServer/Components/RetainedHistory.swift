import DequeModule
import GatehouseCore

/// The last few committed batches, enough to rebuild the state at any
/// revision since the oldest of them and walk it forward again: what a
/// subscriber resuming from `since_revision` is served from.
struct RetainedHistory: Sendable {
    /// At most this many batches are kept.
    let limit: Int
    /// Consecutive revisions, oldest first. A ring buffer: once full, every
    /// commit drops the oldest, which an array would pay for by shifting all
    /// the others.
    private(set) var summaries: Deque<BatchSummary> = []

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Adds the batch that follows the newest one kept (or starts over after a gap).
    mutating func append(_ summary: BatchSummary) {
        guard self.limit > 0 else { return }
        if let last = self.summaries.last, last.revision.next != summary.revision {
            self.summaries.removeAll()
        }
        self.summaries.append(summary)
        if self.summaries.count > self.limit {
            self.summaries.removeFirst(self.summaries.count - self.limit)
        }
    }

    /// Whether a state at `revision` can be rebuilt from `current` (at `currentRevision`).
    func covers(_ revision: Revision, currentRevision: Revision) -> Bool {
        guard revision <= currentRevision else { return false }
        if revision == currentRevision { return true }
        guard let oldest = self.summaries.first, self.summaries.last?.revision == currentRevision else { return false }
        return revision.rawValue >= oldest.revision.rawValue - 1
    }

    /// The kept batches after `revision`, oldest first.
    func batches(after revision: Revision) -> Slice<Deque<BatchSummary>> {
        let index = self.summaries.firstIndex { $0.revision > revision } ?? self.summaries.endIndex
        return self.summaries[index...]
    }

    /// `current` taken back to `revision`; only when ``covers(_:currentRevision:)``.
    func state(at revision: Revision, from current: GateState) -> GateState {
        var state = current
        for summary in self.batches(after: revision).reversed() {
            state = state.reverting(summary)
        }
        return state
    }
}
