import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Where the server is in its life, as the probes report it: `/readyz` is
/// 200 only while it serves and its store answers; `/healthz` while its event
/// loops answer, whatever the phase.
final class ServerReadiness: Sendable {
    enum Phase: Sendable, Equatable {
        /// Opening the store, loading the state, binding the RPC listener.
        case starting
        /// The store is open and the RPC listener accepts.
        case serving
        /// Shutting down: no new work should be sent here.
        case draining
    }

    private struct State {
        var phase = Phase.starting
        /// Over etcd: whether the store can reach its cluster now; nil when alone with a local store.
        var storeCheck: (@Sendable () async -> String?)?
    }

    private let state = Mutex(State())

    var phase: Phase { self.state.withLock { $0.phase } }

    func moved(to phase: Phase) {
        self.state.withLock { $0.phase = phase }
    }

    /// Asked at every readiness probe while serving: nil when the store answers, else why not.
    func checkStore(with check: @escaping @Sendable () async -> String?) {
        self.state.withLock { $0.storeCheck = check }
    }

    /// The `/readyz` verdict.
    func readiness() async -> ProbeVerdict {
        let (phase, check) = self.state.withLock { ($0.phase, $0.storeCheck) }
        switch phase {
        case .starting:
            return .failing("starting: the store is not open or the RPC listener is not accepting yet")
        case .draining:
            return .failing("shutting down: the RPC listener no longer accepts")
        case .serving:
            guard let check, let problem = await check() else { return .ok }
            return .failing(problem)
        }
    }

    /// The `/healthz` verdict: every loop of `group` runs a task within `deadline`.
    ///
    /// A loop that does not answer is stuck (a blocked handler, a deadlock):
    /// what a liveness probe is for, since a restart is then the fix.
    static func loopsAnswer(_ group: any EventLoopGroup, within deadline: Duration) async -> ProbeVerdict {
        for (index, loop) in group.makeIterator().enumerated() {
            let answered = loop.submit {}
            // Raced by hand: a stuck loop never completes `answered`, and waiting on it can't be cancelled.
            let inTime = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let pending = NIOLockedValueBox<CheckedContinuation<Bool, Never>?>(continuation)
                answered.whenComplete { _ in
                    pending.withLockedValue { waiting in defer { waiting = nil }; return waiting }?.resume(returning: true)
                }
                Task {
                    try? await Task.sleep(for: deadline)
                    pending.withLockedValue { waiting in defer { waiting = nil }; return waiting }?.resume(returning: false)
                }
            }
            guard inTime else {
                return .failing("event loop \(index) did not run a task within \(deadline)")
            }
        }
        return .ok
    }
}
