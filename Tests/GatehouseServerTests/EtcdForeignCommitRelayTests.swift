import Foundation
import GatehouseCore
import GatehouseStore
import Logging
import Synchronization
import Testing

@testable import GatehouseServer

/// Other servers' commits reach the hub once each, in order, whether they
/// arrive before the hub exists, before its starting revision, or after.
@Suite struct EtcdForeignCommitRelayTests {
    final class Published: Sendable {
        let values = Mutex<[(revision: UInt64?, endsGroup: Bool)]>([])
        func publish(_ summary: BatchSummary?, _ endsGroup: Bool) {
            self.values.withLock { $0.append((summary?.revision.rawValue, endsGroup)) }
        }
        var revisions: [UInt64?] { self.values.withLock { $0.map(\.revision) } }
        var ends: [Bool] { self.values.withLock { $0.map(\.endsGroup) } }
    }

    static func batch(_ revision: UInt64) -> BatchSummary {
        BatchSummary(revision: Revision(revision), changes: [])
    }

    @Test func heldBatchesBeforeTheHubsRevisionAreDroppedTheRestForwardedInOrder() {
        let relay = ForeignCommitRelay(logger: Logger(label: "test"))
        let published = Published()
        // Watched while the server was reading its snapshot (at revision 5).
        relay.receive(Self.batch(4), endsGroup: false)
        relay.receive(Self.batch(5), endsGroup: true)
        relay.receive(Self.batch(6), endsGroup: true)
        relay.attach(after: Revision(5), publish: published.publish)
        #expect(published.revisions == [nil, nil, 6])
        #expect(published.ends == [false, true, true], "group ends are kept even for dropped batches: the hub is woken")
        relay.receive(Self.batch(7), endsGroup: false)
        relay.receive(Self.batch(8), endsGroup: true)
        #expect(published.revisions == [nil, nil, 6, 7, 8])
    }

    @Test func aRecordThatCannotBeReadIsPassedOnAsNoBatch() {
        let relay = ForeignCommitRelay(logger: Logger(label: "test"))
        let published = Published()
        relay.attach(after: .zero, publish: published.publish)
        let garbled = AuditRecord(
            revision: Revision(1),
            entry: AuditEntry(timeUnixMilliseconds: 0, actor: "a", method: "m", reason: "", before: Array("not json".utf8), after: [], subjects: [])
        )
        relay.receive(garbled, endsGroup: true)
        #expect(published.revisions == [nil])
        #expect(published.ends == [true])
    }

    @Test func aRecordIsPublishedAsItsBatch() throws {
        let relay = ForeignCommitRelay(logger: Logger(label: "test"))
        let published = Published()
        relay.attach(after: .zero, publish: published.publish)
        let record = AuditRecord(
            revision: Revision(3),
            entry: AuditEntry(timeUnixMilliseconds: 0, actor: "a", method: "m", reason: "", before: [], after: [], subjects: [])
        )
        relay.receive(record, endsGroup: true)
        #expect(published.revisions == [3])
    }
}
