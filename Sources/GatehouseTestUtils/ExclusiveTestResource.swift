import Synchronization

/// Something only one test at a time may use within the test process, such
/// as real etcd members: on a two-core machine a dozen etcd clusters started
/// by tests running in parallel miss their two-second deadlines, which
/// tests the machine's load, not the code.
///
/// Waiters are served in arrival order. Holding is per task tree (a task
/// local), so a test that already holds the resource and reaches it again,
/// through a nested scope, does not wait for itself.
public final class ExclusiveTestResource: Sendable {
    /// Real etcd processes (LocalEtcd in the etcd and server tests).
    public static let etcd = ExclusiveTestResource()

    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    @TaskLocal private static var holding: Set<ObjectIdentifier> = []

    public init() {}

    /// Runs `body` once no other test holds the resource, holding it meanwhile.
    public func withExclusiveAccess<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let key = ObjectIdentifier(self)
        if Self.holding.contains(key) {
            return try await body()
        }
        await self.acquire()
        defer { self.release() }
        return try await Self.$holding.withValue(Self.holding.union([key])) {
            try await body()
        }
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = self.state.withLock { state in
                if state.held {
                    state.waiters.append(continuation)
                    return false
                }
                state.held = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.held = false
                return nil
            }
            return state.waiters.removeFirst()  // stays held, handed over
        }
        next?.resume()
    }
}
