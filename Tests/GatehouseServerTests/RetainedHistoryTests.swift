import GatehouseCore
import Testing

@testable import GatehouseServer

/// The hub's history of recent batches: a ring of at most `limit`, consecutive, oldest first.
@Suite struct RetainedHistoryTests {
    static func summary(_ revision: UInt64) -> BatchSummary {
        BatchSummary(revision: Revision(revision), changes: [])
    }

    @Test func keepsTheNewestBatchesUpToItsLimit() {
        var history = RetainedHistory(limit: 1000)
        for revision in 1...1005 { history.append(Self.summary(UInt64(revision))) }
        #expect(history.summaries.count == 1000)
        #expect(history.summaries.first?.revision == Revision(6))
        #expect(history.summaries.last?.revision == Revision(1005))
        #expect(history.batches(after: Revision(1002)).map(\.revision) == [Revision(1003), Revision(1004), Revision(1005)])
        #expect(history.batches(after: Revision(1005)).isEmpty)
        #expect(history.covers(Revision(5), currentRevision: Revision(1005)), "the oldest kept batch can be reverted")
        #expect(!history.covers(Revision(4), currentRevision: Revision(1005)))
    }

    @Test func aGapStartsOver() {
        var history = RetainedHistory(limit: 10)
        for revision in 1...5 { history.append(Self.summary(UInt64(revision))) }
        history.append(Self.summary(9))
        #expect(history.summaries.map(\.revision) == [Revision(9)])
        #expect(!history.covers(Revision(5), currentRevision: Revision(9)))
    }
}
