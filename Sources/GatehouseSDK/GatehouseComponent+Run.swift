import Atomics
import GatehouseProto
import GatehouseRPC
import GatehouseTLS
import GatehouseWire
import Logging
import NIOCore
import ServiceLifecycle

extension GatehouseComponent: Service {
    static let registerPath = "/gatehouse.v1.Components/Register"
    static let subscribePath = "/gatehouse.v1.Components/Subscribe"

    /// Connects, registers, subscribes and applies, reconnecting until cancelled or shut down gracefully.
    ///
    /// Loops over the endpoints: each failure moves to the next one after a
    /// backoff delay with jitter; a session that got as far as a message from
    /// the server starts the backoff over. Runs the boot deadline and the
    /// offline TTL beside it. Call it once.
    public func run() async throws {
        guard self.started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
            preconditionFailure("GatehouseComponent.run() was called twice")
        }
        await cancelWhenGracefulShutdown {
            await self.runUntilCancelled()
        }
    }

    private func runUntilCancelled() async {
        self.connectivityContinuation.yield(.offline(since: self.bootInstant, generation: 0))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                guard (try? await self.clock.sleep(until: self.bootInstant + self.configuration.bootDeadline)) != nil else { return }
                await self.bootDeadlinePassed()
            }
            group.addTask { await self.runOfflineTimer() }
            if let check = self.configuration.healthCheck {
                group.addTask { await self.pollHealth(check) }
            }
            await self.connectLoop()
            group.cancelAll()
        }
        self.resolveBoot(.stale(source: self.core.withLock { $0.fallback.source }))
        self.connectivityContinuation.finish()
        self.changesContinuation.finish()
        self.healthCheckRequester.finish()
    }

    /// Starts a TTL timer for each outage and drops it when the server is back.
    private func runOfflineTimer() async {
        var timer: Task<Void, Never>?
        for await event in self.connectivity {
            timer?.cancel()
            timer = nil
            guard case .offline(let since, let generation) = event else { continue }
            let deadline = since + self.policy.ttl
            timer = Task {
                guard (try? await self.clock.sleep(until: deadline)) != nil else { return }
                await self.offlineTTLExpired(generation: generation)
            }
        }
        timer?.cancel()
    }

    private func connectLoop() async {
        let endpoints = self.configuration.endpoints
        guard !endpoints.isEmpty else {
            self.logger.warning("no endpoints configured: running on local state only")
            while (try? await self.clock.sleep(for: .seconds(3600))) != nil {}
            return
        }
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        var index = 0
        // The first subscription of a process takes a snapshot, even with a last-known-good file:
        // the effective state also depends on this binary's version, which may be new.
        var resume: UInt64?
        while !Task.isCancelled {
            let endpoint = endpoints[index % endpoints.count]
            let progressed = await self.session(with: endpoint, resume: &resume)
            await self.markOffline()
            if Task.isCancelled { break }
            attempt = progressed ? 1 : attempt + 1
            index += 1
            let delay = self.configuration.backoff.delay(attempt: attempt, using: &generator)
            self.logger.debug("reconnecting", metadata: [
                "next": "\(endpoints[index % endpoints.count])", "delay": "\(delay)", "attempt": "\(attempt)",
            ])
            guard (try? await self.clock.sleep(for: delay)) != nil else { break }
        }
    }

    /// One connection: register, then subscribe (again, after a missed change) until it fails.
    ///
    /// - Returns: whether the server sent anything on a subscription, which resets the backoff.
    private func session(with endpoint: Endpoint, resume: inout UInt64?) async -> Bool {
        var logger = self.logger
        logger[metadataKey: "endpoint"] = "\(endpoint)"
        let tls = self.configuration.tls
        let connection: RPCClientConnection
        do {
            let context = try TLSContext.client(TLSConfiguration(
                certificateChainPath: tls.certificateChainPath,
                privateKeyPath: tls.privateKeyPath,
                trustRootsPath: tls.trustRootsPath
            ))
            connection = try await RPCClientConnection.connect(
                host: endpoint.host,
                port: endpoint.port,
                tls: context,
                serverHostname: tls.serverName ?? endpoint.host,
                connectTimeout: Self.timeAmount(self.configuration.connectTimeout),
                logger: logger
            )
        } catch {
            logger.warning("cannot connect", metadata: ["error": "\(error)"])
            return false
        }
        var progressed = false
        do {
            let registered: Gatehouse_V1_RegisterResponse = try await connection.unary(
                Self.registerPath,
                self.registerRequest,
                timeout: self.configuration.connectTimeout
            )
            for warning in registered.warnings {
                logger.warning("server: \(warning)")
            }
            if !registered.unknownFeatures.isEmpty || !registered.unknownApis.isEmpty {
                logger.warning("the server does not define some compiled-in entries; they keep their compiled defaults", metadata: [
                    "features": "\(registered.unknownFeatures)",
                    "apis": "\(registered.unknownApis.map { "\($0.group)/\($0.version)" })",
                ])
            }
            logger.debug("registered", metadata: ["revision": "\(registered.revision)"])
            while true {
                try await self.subscribe(on: connection, resume: &resume, progressed: &progressed, logger: logger)
                resume = nil
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("session ended", metadata: ["error": "\(error)"])
            }
        }
        await connection.close()
        return progressed
    }

    /// One subscription; returns when it must be replaced by a fresh one (a missed change), throws when it ends.
    private func subscribe(
        on connection: RPCClientConnection,
        resume: inout UInt64?,
        progressed: inout Bool,
        logger: Logger
    ) async throws {
        let identity = self.configuration.identity
        var start = Gatehouse_V1_SubscribeStart.with {
            $0.component = identity.component
            $0.instanceID = identity.instanceID
            $0.version = identity.version
        }
        if let resume { start.sinceRevision = resume }
        let stream = try await connection.serverStreaming(
            Self.subscribePath,
            Gatehouse_V1_SubscribeRequest.with { $0.start = start },
            as: Gatehouse_V1_SubscribeResponse.self,
            endStream: false
        )
        logger.debug("subscribed", metadata: ["since": "\(resume.map(String.init) ?? "none")"])
        let lastMessage = ManagedAtomic(Self.nanoseconds(self.clock.now()))
        let idle = ManagedAtomic(false)
        var refusedLast = false
        let prepares = PrepareResponder(component: self) { ack in
            try await stream.send(Gatehouse_V1_SubscribeRequest.with { $0.prepareAck = ack })
        }
        defer { prepares.stopAll() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.watchIdle(stream, lastMessage: lastMessage, idle: idle) }
            group.addTask { await self.sendHealth(on: stream) }
            defer { group.cancelAll() }
            do {
                for try await response in stream {
                    lastMessage.store(Self.nanoseconds(self.clock.now()), ordering: .relaxed)
                    progressed = true
                    switch response.message {
                    case .snapshot(let snapshot):
                        if snapshot.reset {
                            logger.notice("resumed too far back; the server sent a fresh snapshot", metadata: ["revision": "\(snapshot.revision)"])
                        }
                        let outcome = await self.apply(.snapshot(snapshot))
                        refusedLast = outcome.isRejection
                        if case .applied(let revision) = outcome {
                            resume = revision
                            self.healthCheckRequester.yield()
                        } else {
                            await self.markLive()
                        }
                        try await Self.acknowledge(outcome, on: stream)
                    case .delta(let delta):
                        let outcome = await self.apply(.delta(delta))
                        if case .resync(let reason) = outcome {
                            logger.notice("resubscribing for a snapshot", metadata: ["reason": "\(reason)"])
                            stream.cancel()
                            return
                        }
                        refusedLast = outcome.isRejection
                        if case .applied(let revision) = outcome {
                            resume = revision
                            self.healthCheckRequester.yield()
                        }
                        try await Self.acknowledge(outcome, on: stream)
                    case .heartbeat(let heartbeat):
                        // Sent right after the missed deltas of a resumed subscription: caught up.
                        // The state held is the state at the heartbeat's revision too (the stream is
                        // in order), so a later resume starts there, unless the last push was refused.
                        if let applied = resume, !refusedLast { resume = max(applied, heartbeat.revision) }
                        await self.markLive()
                    case .prepare(let prepare):
                        logger.info("preparing an API change", metadata: ["id": "\(prepare.id)", "apis": "\(prepare.apis.count)"])
                        prepares.prepare(prepare)
                    case .prepareCancel(let cancel):
                        logger.info("prepared API change called off", metadata: ["id": "\(cancel.id)", "reason": "\(cancel.reason)"])
                        await prepares.cancel(cancel)
                    case nil:
                        logger.debug("ignoring a subscription message this SDK does not know")
                    }
                }
            } catch {
                if idle.load(ordering: .relaxed) {
                    throw RPCError(.unavailable, "nothing from the server for \(self.configuration.idleTimeout); taking the connection for dead")
                }
                throw error
            }
            throw RPCError(.unavailable, "the server ended the subscription")
        }
    }

    /// Cancels `stream` when nothing (not even a heartbeat) arrived within the idle timeout.
    private func watchIdle(_ stream: RPCResponseMessages<Gatehouse_V1_SubscribeResponse>, lastMessage: ManagedAtomic<Int64>, idle: ManagedAtomic<Bool>) async throws {
        while true {
            let deadline = Duration.nanoseconds(lastMessage.load(ordering: .relaxed)) + self.configuration.idleTimeout
            if self.clock.now() >= deadline {
                idle.store(true, ordering: .relaxed)
                stream.cancel()
                return
            }
            try await self.clock.sleep(until: deadline)
        }
    }

    private static func acknowledge(_ outcome: PushOutcome, on stream: RPCResponseMessages<Gatehouse_V1_SubscribeResponse>) async throws {
        let ack: Gatehouse_V1_Ack
        switch outcome {
        case .applied(let revision):
            ack = .with { $0.revision = revision }
        case .rejected(let revision, let error):
            ack = .with {
                $0.revision = revision
                $0.error = error
            }
        case .resync:
            return
        }
        try await stream.send(Gatehouse_V1_SubscribeRequest.with { $0.ack = ack })
    }

    var registerRequest: Gatehouse_V1_RegisterRequest {
        let configuration = self.configuration
        return .with { request in
            request.component = configuration.identity.component
            request.instanceID = configuration.identity.instanceID
            request.version = configuration.identity.version
            request.labels = configuration.identity.labels
            request.features = configuration.features.map { feature in
                .with {
                    $0.name = feature.name
                    $0.stage = feature.stage.wire
                    $0.defaultEnabled = feature.defaultEnabled
                    $0.lockedToDefault = feature.lockedToDefault
                }
            }
            request.apis = configuration.apis.map { api in
                .with {
                    $0.api = api.ref.wire
                    $0.stage = api.stage.wire
                    $0.defaultEnabled = api.defaultEnabled
                }
            }
        }
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(Self.nanoseconds(duration))
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
