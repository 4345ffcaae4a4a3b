import Foundation
import GatehouseProto
import Logging

/// The component's mutable state, changed only under its serial lock.
struct CoreState: Sendable {
    /// The server state (or the last-known-good file's, once booted on it).
    var cache: EffectiveCache
    var origin: StateOrigin
    var fallback: BootFallback
    /// Connected and caught up with a server.
    var live = false
    /// The offline policy overrides entries.
    var failingClosed = false
    /// Counts outages, so a TTL timer of an earlier outage does nothing.
    var offlineGeneration: UInt64 = 0

    init(cache: EffectiveCache, origin: StateOrigin, fallback: BootFallback) {
        self.cache = cache
        self.origin = origin
        self.fallback = fallback
    }
}

/// A server message that changes state.
enum ServerPush: Sendable {
    case snapshot(Gatehouse_V1_Snapshot)
    case delta(Gatehouse_V1_Delta)
}

/// What became of a server push.
enum PushOutcome: Sendable, Equatable {
    /// Applied and published: ack it.
    case applied(revision: UInt64)
    /// Refused (by the handler, or invalid): NACK it and keep the previous state.
    case rejected(revision: UInt64, error: Gatehouse_V1_AckError)
    /// Does not follow on from the state held: resubscribe for a snapshot.
    case resync(reason: String)

    var isRejection: Bool {
        if case .rejected = self { return true }
        return false
    }
}

extension GatehouseComponent {
    /// The view of `state` that reads see.
    func view(of state: CoreState) -> StateSnapshot {
        StateSnapshot(
            cache: state.cache,
            defaults: self.defaults,
            origin: state.origin,
            isStale: !state.live,
            failingClosed: state.failingClosed,
            policy: self.policy
        )
    }

    /// Publishes `next`: the handler first when entries change, then the atomic store and `changes`.
    ///
    /// Call only under `lane`. Returns the handler's error when `refusable` and it threw; then nothing is published.
    @discardableResult
    func publish(_ next: CoreState, source: StateUpdate.Source, refusable: Bool) async -> (any Error)? {
        let view = self.view(of: next)
        let previous = self.published.load(ordering: .acquiring)
        let (features, apis) = view.changes(since: previous)
        let update = StateUpdate(source: source, revision: view.revision, features: features, apis: apis, snapshot: view)
        if !update.isEmpty, let handler = self.configuration.handler {
            do {
                try await handler(update)
            } catch {
                if refusable { return error }
                self.logger.error("the state handler failed on an update that cannot be refused; applied anyway", metadata: [
                    "source": "\(source)", "error": "\(error)",
                ])
            }
        }
        self.core.withLock { $0 = next }
        self.published.store(view, ordering: .releasing)
        if !update.isEmpty { self.changesContinuation.yield(update) }
        return nil
    }

    /// Applies a snapshot or delta, handler and last-known-good file included.
    func apply(_ push: ServerPush) async -> PushOutcome {
        await self.lane.withLock {
            var next = self.core.withLock { $0 }
            let wasLive = next.live
            let revision: UInt64
            do throws(EffectiveCache.ApplyError) {
                switch push {
                case .snapshot(let snapshot):
                    revision = snapshot.revision
                    next.cache = try EffectiveCache.from(snapshot, hints: self.defaults.stageHints)
                    // A snapshot is the whole truth: the component is caught up.
                    next.live = true
                    next.failingClosed = false
                case .delta(let delta):
                    revision = delta.revision
                    guard next.origin == .server else {
                        return .resync(reason: "a delta (base r\(delta.baseRevision)) arrived before any snapshot")
                    }
                    next.cache = try next.cache.applying(delta, hints: self.defaults.stageHints)
                }
            } catch {
                switch error {
                case .baseRevisionMismatch(let held, let base):
                    return .resync(reason: "delta based on r\(base), state at r\(held): a change was missed")
                case .invalidEntries(let message, let entries):
                    self.logger.error("refusing an invalid update", metadata: ["error": "\(message)"])
                    return .rejected(revision: push.revision, error: .with {
                        $0.reason = "INVALID_UPDATE"
                        $0.message = message
                        $0.entries = entries
                    })
                }
            }
            next.origin = .server
            if let error = await self.publish(next, source: .server, refusable: true) {
                self.logger.warning("the state handler rejected r\(revision); keeping r\(self.snapshot.revision)", metadata: ["error": "\(error)"])
                return .rejected(revision: revision, error: Self.ackError(for: error))
            }
            // Saved before boot is reported: a component that boots live can already restart without the server.
            self.saveLastKnownGood(next.cache)
            if next.live { self.wentLive(next, wasLive: wasLive) }
            return .applied(revision: revision)
        }
    }

    /// The server confirmed the state (a heartbeat after catching up, or a snapshot the handler refused).
    func markLive() async {
        await self.lane.withLock {
            var next = self.core.withLock { $0 }
            guard !next.live else { return }
            next.live = true
            next.failingClosed = false
            await self.publish(next, source: .offlinePolicy, refusable: false)
            self.wentLive(next, wasLive: false)
        }
    }

    /// After publishing a live state: stop the TTL timer and resolve boot on server state.
    private func wentLive(_ state: CoreState, wasLive: Bool) {
        if !wasLive {
            self.connectivityContinuation.yield(.online)
            self.logger.info("live", metadata: ["revision": "\(state.cache.revision)"])
        }
        if state.origin == .server {
            self.resolveBoot(.live(revision: state.cache.revision))
        }
    }

    /// The connection is gone: the state is stale from now, and the TTL starts.
    func markOffline() async {
        await self.lane.withLock {
            var next = self.core.withLock { $0 }
            guard next.live else { return }
            next.live = false
            next.offlineGeneration += 1
            await self.publish(next, source: .offlinePolicy, refusable: false)
            self.connectivityContinuation.yield(.offline(since: self.clock.now(), generation: next.offlineGeneration))
            self.logger.warning("lost the server; running stale", metadata: ["revision": "\(next.cache.revision)"])
        }
    }

    /// The offline TTL of outage `generation` has passed.
    func offlineTTLExpired(generation: UInt64) async {
        await self.lane.withLock {
            var next = self.core.withLock { $0 }
            guard next.offlineGeneration == generation, !next.live, !next.failingClosed else { return }
            next.failingClosed = true
            self.logger.warning("stale for longer than the offline TTL: alpha features and APIs now read disabled", metadata: [
                "ttl": "\(self.policy.ttl)",
            ])
            await self.publish(next, source: .offlinePolicy, refusable: false)
        }
    }

    /// No server state within the boot deadline: boot on the last-known-good file or the defaults.
    func bootDeadlinePassed() async {
        await self.lane.withLock {
            guard self.bootOutcome == nil else { return }
            var next = self.core.withLock { $0 }
            let source = next.fallback.source
            if next.origin == .compiledDefaults, let cache = next.fallback.cache, case .lastKnownGood(_, let savedAt) = source {
                next.cache = cache
                next.origin = .lastKnownGood(savedAt: savedAt)
            }
            self.logger.warning("no server within the boot deadline; booting stale", metadata: ["source": "\(source)"])
            await self.publish(next, source: .boot(source), refusable: false)
            self.resolveBoot(.stale(source: source))
        }
    }

    /// Saves the applied state for the next boot; a failure is logged, never fatal.
    func saveLastKnownGood(_ cache: EffectiveCache) {
        guard let path = self.configuration.lastKnownGoodPath else { return }
        let identity = self.configuration.identity
        let saved = LastKnownGood(
            component: identity.component,
            instanceID: identity.instanceID,
            version: identity.version,
            savedAtUnixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()),
            snapshot: cache.wireSnapshot
        )
        do {
            try AtomicFile.write(try saved.encoded(), to: path)
        } catch {
            self.logger.warning("cannot save the last-known-good file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// The NACK for a handler's error.
    static func ackError(for error: any Error) -> Gatehouse_V1_AckError {
        .with { ack in
            if let rejection = error as? any UpdateRejection {
                ack.reason = rejection.reason
                ack.message = rejection.message
                ack.entries = rejection.entries
            } else {
                ack.reason = "HANDLER_FAILED"
                ack.message = String(describing: error)
            }
        }
    }
}

extension ServerPush {
    var revision: UInt64 {
        switch self {
        case .snapshot(let snapshot): snapshot.revision
        case .delta(let delta): delta.revision
        }
    }
}
