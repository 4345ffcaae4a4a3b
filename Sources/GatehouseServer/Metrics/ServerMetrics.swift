import CoreMetrics
import GatehouseCore
import NIOCore
import Synchronization

/// What the server's own parts record as it works, through swift-metrics:
/// commit latency and group size, fan-out latency, NACKs, rollout transitions.
///
/// Made from the `MetricsFactory` the server was given, never from the
/// process-global `MetricsSystem`, so two servers in one process (tests) count
/// apart. Every handle on a hot path is made once, here; recording is then an
/// atomic add in the backend. Only rare events (a NACK, a rollout's
/// transition) look their labelled handle up in the factory when they happen.
/// What is true *now* (open connections, gate state) is not recorded here but
/// read at scrape time (``ScrapeSampler``).
final class ServerMetrics: Sendable {
    static let commitDuration = "gatehouse_commit_duration_seconds"
    static let commitGroupSize = "gatehouse_commit_group_size"
    static let fanOutDuration = "gatehouse_fanout_duration_seconds"

    /// Submission to durable completion, of every write that committed a change.
    let commitDuration: Timer
    /// Batches per store group (one transaction or etcd Txn): how well writes group.
    let commitGroupSize: Recorder
    /// From a change's commit to the push carrying it written to a subscriber's socket;
    /// nil when nothing records it, so that outlets do not read the clock per push for nothing.
    let fanOutDuration: Timer?
    private let factory: any MetricsFactory
    /// Changed batches completed since the last end of a group; touched only by the store's writer.
    private let groupBatches = Atomic<Int>(0)

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.commitDuration = Timer(label: Self.commitDuration, factory: factory)
        self.commitGroupSize = Recorder(label: Self.commitGroupSize, aggregate: true, factory: factory)
        self.fanOutDuration = factory is NOOPMetricsHandler ? nil : Timer(label: Self.fanOutDuration, factory: factory)
    }

    /// Records nothing: for services built without a server (tests).
    static let none = ServerMetrics(factory: NOOPMetricsHandler.instance)

    /// A monotonic clock reading, for the durations above.
    @inline(__always)
    static func now() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }

    /// A submission completed on the store's writer; `since` is ``now()`` when it was submitted.
    ///
    /// Called in revision order from the writer only, so the group count needs no lock.
    func completed(changed: Bool, endsGroup: Bool, since: UInt64) {
        if changed {
            self.commitDuration.recordNanoseconds(Int64(truncatingIfNeeded: Self.now() &- since))
            self.groupBatches.add(1, ordering: .relaxed)
        }
        if endsGroup {
            let batches = self.groupBatches.exchange(0, ordering: .relaxed)
            if batches > 0 { self.commitGroupSize.record(batches) }
        }
    }

    /// Counts the rollout transitions in a committed batch: a rollout created, or moved to
    /// another phase or step, counted under the phase it is in afterwards.
    func committed(_ summary: BatchSummary) {
        for change in summary.changes {
            guard case .rollout = change.key, case .rollout(let after)? = change.after else { continue }
            if case .rollout(let before)? = change.before, before.phase == after.phase, before.step == after.step { continue }
            Counter(label: "gatehouse_rollout_transitions_total", dimensions: [("phase", after.phase.rawValue)], factory: self.factory).increment()
        }
    }

    /// An instance of `component` rejected a revision it was pushed.
    func nacked(component: String) {
        Counter(label: "gatehouse_nacks_total", dimensions: [("component", component)], factory: self.factory).increment()
    }
}
