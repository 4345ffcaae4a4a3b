import GatehouseStore
import Synchronization

/// Records what a store's foreign-commit observer was told, and lets a test await it.
final class StoreCommitLog: Sendable {
    private struct Waiter {
        var condition: @Sendable ([Revision]) -> Bool
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct Log {
        var seen: [(revision: Revision, endsGroup: Bool)] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let log = Mutex(Log())

    var observer: @Sendable (AuditRecord, Bool) -> Void {
        { record, endsGroup in
            let ready = self.log.withLock { log -> [CheckedContinuation<Void, Never>] in
                log.seen.append((record.revision, endsGroup))
                let revisions = log.seen.map(\.revision)
                let met = log.waiters.filter { $0.value.condition(revisions) }
                for id in met.keys { log.waiters[id] = nil }
                return met.values.map(\.continuation)
            }
            ready.forEach { $0.resume() }
        }
    }

    var revisions: [Revision] { self.log.withLock { $0.seen.map(\.revision) } }
    var groupEnds: [Bool] { self.log.withLock { $0.seen.map(\.endsGroup) } }

    /// Waits until `condition` holds of the revisions seen, or throws after `timeout`.
    func wait(timeout: Duration = .seconds(15), until condition: @escaping @Sendable ([Revision]) -> Bool) async throws {
        let id = self.log.withLock { log -> Int in
            log.nextWaiter += 1
            return log.nextWaiter
        }
        let met = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.log.withLock { log -> Bool in
                        if condition(log.seen.map(\.revision)) { return true }
                        log.waiters[id] = Waiter(condition: condition, continuation: continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            if !first {
                // Timed out: resume the waiter ourselves so the group can end.
                self.log.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
            }
            group.cancelAll()
            return first
        }
        if !met {
            throw StoreTestRefusal(reason: "timed out waiting; the observer saw \(self.revisions.map(\.rawValue))")
        }
    }
}
