import GatehouseTestUtils
import Testing

/// Marks a suite or test that starts real etcd members (``LocalEtcd``): its
/// tests run one at a time across the whole test process, whatever else runs
/// in parallel, so each cluster gets the machine's cores within its deadlines.
struct LocalEtcdTrait: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's scope spans all its tests: holding it there would make its tests wait for it.
        guard !test.isSuite else { return try await function() }
        try await ExclusiveTestResource.etcd.withExclusiveAccess(function)
    }
}

extension Trait where Self == LocalEtcdTrait {
    /// Starts real etcd members: one such test at a time in the process.
    static var localEtcd: Self { LocalEtcdTrait() }
}
