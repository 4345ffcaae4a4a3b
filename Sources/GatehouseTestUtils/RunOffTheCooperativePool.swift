import Foundation

/// Runs blocking `body` (a child process waited for, a pipe read to its end)
/// on a thread of its own and awaits its result.
///
/// Swift's cooperative pool has one thread per core, two on this machine:
/// a test that blocks one for seconds delays every other test's timers and
/// deadlines, and they fail for the machine's sake, not the code's.
public func runOffTheCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
