import EtcdProto
import Foundation
import Logging
import Synchronization

/// This server's membership of the cluster: one etcd lease, kept alive every
/// TTL/3, and `<prefix>servers/<serverID>` (its advertised address) under it.
///
/// Everything a server owns in etcd (its instances, the leadership it holds)
/// is put under this lease, so it vanishes on its own when the server dies:
/// etcd deletes a lease's keys once nobody kept it alive for a TTL.
///
/// When etcd stays unreachable so long that the lease may have expired (by
/// this server's own, conservative clock: ``LeaseKeeper``), the session says
/// so at once (``leases()`` yields nil: a leader stops leading) and keeps
/// granting a new lease until etcd answers; holders then put their keys
/// again under the new id. ``close()`` revokes the lease, so a clean shutdown
/// removes the server's instances and leadership at once instead of after a TTL.
public final class EtcdSession: Sendable {
    public let kv: any EtcdKV
    public let prefix: String
    public let serverID: String
    /// What `<prefix>servers/<serverID>` holds.
    public let address: String
    public let ttl: Duration
    private let logger: Logger
    private let clock: Clock
    private let state: Mutex<State>

    /// The monotonic clock a session runs on: tests pass a manual one.
    public struct Clock: Sendable {
        public var now: @Sendable () -> Duration
        public var sleep: @Sendable (_ until: Duration) async throws -> Void

        public init(now: @escaping @Sendable () -> Duration, sleep: @escaping @Sendable (_ until: Duration) async throws -> Void) {
            self.now = now
            self.sleep = sleep
        }

        /// The process's continuous clock.
        public static var continuous: Clock {
            let origin = ContinuousClock.now
            return Clock(
                now: { ContinuousClock.now - origin },
                sleep: { until in try await Task.sleep(until: origin + until, clock: ContinuousClock()) }
            )
        }
    }

    private struct State {
        /// The lease held now; nil while it may have expired and no new one was granted yet.
        var lease: Int64?
        var watchers: [UInt64: AsyncStream<Int64?>.Continuation] = [:]
        var nextWatcher: UInt64 = 0
        var keeping: Task<Void, Never>?
        var closed = false
    }

    /// The key this session's server is listed under.
    public var serverKey: String { "\(self.prefix)servers/\(self.serverID)" }

    private init(kv: any EtcdKV, prefix: String, serverID: String, address: String, ttl: Duration, clock: Clock, logger: Logger, lease: Int64) {
        self.kv = kv
        self.prefix = prefix
        self.serverID = serverID
        self.address = address
        self.ttl = ttl
        self.clock = clock
        var logger = logger
        logger[metadataKey: "server_id"] = "\(serverID)"
        self.logger = logger
        self.state = Mutex(State(lease: lease))
    }

    /// Grants the lease, lists the server under it, and keeps it alive until ``close()``.
    ///
    /// - Parameters:
    ///   - prefix: the key prefix every server of this cluster shares (`--etcd-prefix`, e.g. `/gatehouse/`).
    ///   - serverID: this server's id (`--server-id`), unique in the cluster.
    ///   - address: what other servers and operators read at `<prefix>servers/<serverID>`.
    ///   - ttl: the lease's time to live: how long a dead server's instances and leadership outlive it.
    /// - Throws: the ``EtcdError`` of the grant or the put: a server does not start without its session.
    public static func start(
        kv: any EtcdKV,
        prefix: String,
        serverID: String,
        address: String,
        ttl: Duration = .seconds(10),
        clock: Clock = .continuous,
        logger: Logger
    ) async throws -> EtcdSession {
        precondition(ttl >= .seconds(2), "etcd leases are whole seconds; a TTL under 2 s leaves no room for a keepalive")
        let sentAt = clock.now()
        let lease = try await Self.grant(kv: kv, ttl: ttl, serverKey: "\(prefix)servers/\(serverID)", address: address)
        let session = EtcdSession(kv: kv, prefix: prefix, serverID: serverID, address: address, ttl: ttl, clock: clock, logger: logger, lease: lease.id)
        session.logger.info("etcd session started", metadata: ["lease": "\(String(lease.id, radix: 16))", "ttl_s": "\(lease.ttl)"])
        let keeper = LeaseKeeper(ttl: .seconds(lease.ttl), grantedAt: sentAt)
        let task = Task { await session.keepAlive(keeper, lease: lease.id) }
        session.state.withLock { $0.keeping = task }
        return session
    }

    /// The lease held now; nil while it may have expired and no new one is granted yet.
    public var lease: Int64? { self.state.withLock { $0.lease } }

    /// The lease held now, then every change: a new id after the old one
    /// expired (put your keys again under it), nil the moment the current one
    /// may have expired (stop acting under it). Finishes on ``close()``.
    public func leases() -> AsyncStream<Int64?> {
        let (stream, continuation) = AsyncStream<Int64?>.makeStream(bufferingPolicy: .bufferingNewest(8))
        let id: UInt64? = self.state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            continuation.yield(state.lease)
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Waits until a lease is held (at once, normally) and returns it; nil once closed or cancelled.
    public func currentLease() async -> Int64? {
        for await lease in self.leases() {
            if let lease { return lease }
        }
        return nil
    }

    /// Stops the keepalives and revokes the lease: etcd deletes every key under it now.
    public func close() async {
        let (task, lease, watchers) = self.state.withLock { state in
            state.closed = true
            defer {
                state.watchers = [:]
                state.lease = nil
            }
            return (state.keeping, state.lease, state.watchers)
        }
        task?.cancel()
        await task?.value
        for watcher in watchers.values {
            watcher.yield(nil)
            watcher.finish()
        }
        guard let lease else { return }
        do {
            try await self.kv.leaseRevoke(id: lease)
            self.logger.info("etcd session closed: lease revoked", metadata: ["lease": "\(String(lease, radix: 16))"])
        } catch {
            self.logger.warning(
                "etcd session closed, but revoking its lease failed: its keys go when the lease expires",
                metadata: ["error": "\(error)", "ttl": "\(self.ttl)"]
            )
        }
    }

    // MARK: - Keeping the lease

    private func keepAlive(_ initial: LeaseKeeper, lease initialLease: Int64) async {
        var keeper = initial
        var lease = initialLease
        var action = keeper.next(at: self.clock.now())
        while !Task.isCancelled {
            switch action {
            case .keepAlive(let at):
                do {
                    try await self.clock.sleep(at)
                } catch {
                    return
                }
                let sentAt = self.clock.now()
                do {
                    let remaining = try await self.kv.leaseKeepAlive(id: lease)
                    action = keeper.renewed(sentAt: sentAt, remaining: remaining)
                } catch {
                    if Task.isCancelled { return }
                    action = keeper.failed(at: self.clock.now())
                    self.logger.debug("etcd lease keepalive failed", metadata: ["error": "\(error)"])
                }
            case .expired:
                self.publish(nil)
                self.logger.warning(
                    "etcd lease may have expired: this server's instances and leadership are gone until a new lease is granted",
                    metadata: ["lease": "\(String(lease, radix: 16))"]
                )
                guard let granted = await self.regrant() else { return }
                keeper = granted.keeper
                lease = granted.lease
                self.publish(lease)
                self.logger.info("etcd session renewed with a new lease", metadata: ["lease": "\(String(lease, radix: 16))"])
                action = keeper.next(at: self.clock.now())
            }
        }
    }

    /// Grants a new lease and lists the server under it, retrying until etcd answers; nil when cancelled.
    private func regrant() async -> (lease: Int64, keeper: LeaseKeeper)? {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            let sentAt = self.clock.now()
            do {
                let granted = try await Self.grant(kv: self.kv, ttl: self.ttl, serverKey: self.serverKey, address: self.address)
                return (granted.id, LeaseKeeper(ttl: .seconds(granted.ttl), grantedAt: sentAt))
            } catch {
                self.logger.debug("etcd lease grant failed; trying again", metadata: ["error": "\(error)"])
                do {
                    try await self.clock.sleep(self.clock.now() + delay)
                } catch {
                    return nil
                }
                delay = min(delay * 2, self.ttl / 3)
            }
        }
        return nil
    }

    private static func grant(kv: any EtcdKV, ttl: Duration, serverKey: String, address: String) async throws -> (id: Int64, ttl: Int64) {
        let granted = try await kv.leaseGrant(ttl: ttl.components.seconds)
        guard granted.error.isEmpty, granted.id != 0 else {
            throw EtcdError(.rejected(grpcStatus: 0), "lease grant refused: \(granted.error)")
        }
        _ = try await kv.put(.with {
            $0.key = Data(serverKey.utf8)
            $0.value = Data(address.utf8)
            $0.lease = granted.id
        })
        return (granted.id, granted.ttl > 0 ? granted.ttl : ttl.components.seconds)
    }

    private func publish(_ lease: Int64?) {
        self.state.withLock { state in
            guard !state.closed else { return }
            state.lease = lease
            for watcher in state.watchers.values { watcher.yield(lease) }
        }
    }
}
