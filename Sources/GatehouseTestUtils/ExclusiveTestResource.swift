import GatehouseSDK

/// Something only one test at a time may use within the test process, such
/// as real etcd members: on a two-core machine a dozen etcd clusters started
/// by tests running in parallel miss their two-second deadlines, which
/// tests the machine's load, not the code.
///
/// Waiters are served in arrival order (the SDK's `AsyncSerialLock`).
/// Holding is per task tree (a task local), so a test that already holds the
/// resource and reaches it again, through a nested scope, does not wait for
/// itself.
public final class ExclusiveTestResource: Sendable {
    /// Real etcd processes (LocalEtcd in the etcd and server tests).
    public static let etcd = ExclusiveTestResource()

    private let lock = AsyncSerialLock()

    @TaskLocal private static var holding: Set<ObjectIdentifier> = []

    public init() {}

    /// Runs `body` once no other test holds the resource, holding it meanwhile.
    public func withExclusiveAccess<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let key = ObjectIdentifier(self)
        if Self.holding.contains(key) {
            return try await body()
        }
        return try await self.lock.withLock {
            try await Self.$holding.withValue(Self.holding.union([key])) {
                try await body()
            }
        }
    }
}
