import GatehouseCore
import GatehouseStore
import Logging
import Synchronization

/// Hands the batches other servers commit (an etcd store's watch) to this
/// server's subscription hub, each exactly once and in revision order.
///
/// The store starts reporting before the hub exists: the hub is built from
/// the store's snapshot, and a batch committed elsewhere between reading that
/// snapshot and registering an observer would otherwise be lost (a gap the hub
/// would wait on), while one reported before the read would be applied twice.
/// So the observer is registered first, into this relay, which holds what
/// arrives until ``attach(after:publish:)`` names the revision the hub starts
/// at, drops what that state already contains, and forwards the rest.
final class ForeignCommitRelay: Sendable {
    typealias Publish = @Sendable (_ summary: BatchSummary?, _ endsGroup: Bool) -> Void

    private enum State {
        case holding([(summary: BatchSummary?, endsGroup: Bool)])
        case attached(after: Revision, publish: Publish)
    }

    private let state = Mutex(State.holding([]))
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// The store's observer: one batch another server committed; `endsGroup`
    /// when no more of the same watch event follow at once.
    func receive(_ record: AuditRecord, endsGroup: Bool) {
        let summary: BatchSummary?
        do {
            summary = try GateRecords.summary(from: record)
        } catch {
            // Subscribers then wait for this revision until the hub skips the gap; the log says why.
            self.logger.error(
                "cannot read another server's batch back for subscriptions",
                metadata: ["revision": "\(record.revision)", "error": "\(error)"]
            )
            summary = nil
        }
        self.receive(summary, endsGroup: endsGroup)
    }

    /// ``receive(_:endsGroup:)`` once decoded.
    func receive(_ summary: BatchSummary?, endsGroup: Bool) {
        let forward = self.state.withLock { state -> (Publish, BatchSummary?)? in
            switch state {
            case .holding(var held):
                held.append((summary, endsGroup))
                state = .holding(held)
                return nil
            case .attached(let floor, let publish):
                return (publish, Self.after(floor, summary))
            }
        }
        if let (publish, summary) = forward { publish(summary, endsGroup) }
    }

    /// The batch when it is newer than `floor`; nil (nothing to apply, the group
    /// still ends) when the hub's initial state already holds it.
    private static func after(_ floor: Revision, _ summary: BatchSummary?) -> BatchSummary? {
        summary.flatMap { $0.revision > floor ? $0 : nil }
    }

    /// From now on batches go to `publish`, those after `revision` only
    /// (the hub's initial state holds the rest); what was held goes first.
    func attach(after revision: Revision, publish: @escaping Publish) {
        // Held batches are forwarded under the lock: one reported meanwhile must not overtake them.
        self.state.withLock { state in
            guard case .holding(let held) = state else { preconditionFailure("the relay is attached once") }
            for (summary, endsGroup) in held {
                publish(Self.after(revision, summary), endsGroup)
            }
            state = .attached(after: revision, publish: publish)
        }
    }
}
