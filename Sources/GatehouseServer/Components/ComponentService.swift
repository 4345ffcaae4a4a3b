import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseWire
import Logging
import NIOCore

/// `gatehouse.v1.Components`: registration, pushed subscriptions with acks,
/// the instance list and the convergence view.
final class ComponentService: Sendable {
    let hub: SubscriptionHub
    let registry: InstanceRegistry
    let authorizer: Authorizer
    /// Commits what a registration teaches the catalog (which builds know which features).
    let gates: GateService
    /// Bounds on what a registration may carry.
    let limits: RequestLimits
    /// Where replicas' PrepareAcks go (two-phase API activation, `ApiActivations`).
    let prepareAcks = PrepareAckInbox()

    init(hub: SubscriptionHub, registry: InstanceRegistry, authorizer: Authorizer, gates: GateService, limits: RequestLimits = RequestLimits()) {
        self.hub = hub
        self.registry = registry
        self.authorizer = authorizer
        self.gates = gates
        self.limits = limits
    }

    /// The latest committed state.
    func state() -> GateState {
        self.gates.state
    }

    var methods: [RPCMethod] {
        [
            self.authorizer.guarding(.unary("/gatehouse.v1.Components/Register", self.register), with: .componentSelf),
            // Subscribe decides between a component's own stream and a viewer's watch itself.
            self.authorizer.guarding(self.subscribeMethod, with: .read),
            self.authorizer.guarding(.unary("/gatehouse.v1.Components/List", self.list), with: .read),
            self.authorizer.guarding(.unary("/gatehouse.v1.Components/Convergence", self.convergence), with: .read),
        ]
    }

    // MARK: - Register

    private func register(_ request: Gatehouse_V1_RegisterRequest, context: RPCServerContext) async throws -> Gatehouse_V1_RegisterResponse {
        let instance = try GateService.mapping {
            try InstanceRef(validating: request.component, instanceID: request.instanceID, version: request.version)
        }
        let principal = try self.checkActsAsItself(instance.component, context: context)
        try GateService.mapping {
            try self.limits.checkRegistration(
                component: request.component,
                instanceID: request.instanceID,
                version: request.version,
                labels: request.labels,
                features: request.features.map(\.name),
                apis: request.apis.map { ($0.api.group, $0.api.version, $0.api.resource) }
            )
        }
        let apis = try GateService.mapping { try request.apis.enumerated().map { try APIRef(wire: $1.api, field: "apis[\($0)].api") } }
        do throws(InstanceRegistry.Full) {
            try self.registry.admit(instance)
        } catch {
            throw Self.refusal(error)
        }
        // The catalog records what this build knows, once per build (and again if that changes).
        let build = ComponentBuild(component: instance.component, version: request.version, features: request.features.map(\.name), apis: apis)
        var state = self.state()
        if state.builds[build.key].map({ !$0.knowsTheSame(as: build) }) ?? true {
            // The server's own reason, held to the operator's bound like any other.
            let reason = RequestLimits.truncated("\(instance) registered", octets: self.limits.maxReasonOctets)
            let batch = ChangeBatch(changes: [.recordBuild(build)], reason: reason, actor: principal.name)
            _ = try await self.gates.commit(batch, context: context)
            state = self.state()
        }
        // Recorded only now: a registration refused above (its build's audit entry too large, the store failing) keeps nothing.
        do throws(InstanceRegistry.Full) {
            try self.registry.register(instance, labels: request.labels, identity: principal.name)
        } catch {
            throw Self.refusal(error)
        }
        var response = Gatehouse_V1_RegisterResponse.with { $0.revision = state.revision.rawValue }
        for known in request.features {
            guard let feature = state.feature(known.name) else {
                response.unknownFeatures.append(known.name)
                continue
            }
            if known.stage != feature.stage.wire {
                response.warnings.append("feature \(known.name): the binary says \(known.stage), the catalog says \(feature.stage.wire)")
            }
            if known.defaultEnabled != feature.defaultEnabled {
                response.warnings.append("feature \(known.name): the binary defaults to \(known.defaultEnabled), the catalog to \(feature.defaultEnabled)")
            }
        }
        for (known, ref) in zip(request.apis, apis) where state.apis[ref] == nil {
            response.unknownApis.append(known.api)
        }
        context.logger.info(
            "instance registered",
            metadata: [
                "instance": "\(instance)", "version": "\(request.version)", "features": "\(request.features.count)",
                "unknown_features": "\(response.unknownFeatures.count)",
            ]
        )
        return response
    }

    /// RESOURCE_EXHAUSTED for a component with as many instances as it may have.
    static func refusal(_ full: InstanceRegistry.Full) -> RPCError {
        let when = full.retryAfterMilliseconds.map { "; its longest-disconnected instance can be replaced in \(($0 + 999) / 1000) s" } ?? ", all of them connected"
        var metadata = ["component": full.component, "limit": String(full.limit)]
        if let retry = full.retryAfterMilliseconds { metadata["retry_after_ms"] = String(retry) }
        return GateError(
            "component \(full.component) already has \(full.limit) instances (--max-instances-per-component)\(when)",
            reason: .tooManyInstances,
            metadata: metadata
        ).rpcError
    }

    /// Only the component itself (its certificate's CN) or an admin may register or subscribe as it.
    ///
    /// An admin may act for any component: tools and tests register and
    /// subscribe on a component's behalf (PROTOCOL.md 6, `Register`).
    private func checkActsAsItself(_ component: String, context: RPCServerContext) throws -> Principal {
        let principal = self.authorizer.principal(of: context)
        let itself = principal.roles.contains(.component) && principal.identity?.commonName == component
        guard itself || principal.roles.contains(.admin) else {
            context.logger.warning("call denied", metadata: ["peer.subject": "\(principal.identity?.subject ?? "-")", "component": "\(component)"])
            throw RPCError(.permissionDenied, "\(principal.name) may not act as \(component): only that component's own certificate (CN=\(component)) or an admin may")
        }
        return principal
    }

    // MARK: - Subscribe

    private var subscribeMethod: RPCMethod {
        RPCMethod(
            path: "/gatehouse.v1.Components/Subscribe",
            requestType: Gatehouse_V1_SubscribeRequest.protoMessageName,
            responseType: Gatehouse_V1_SubscribeResponse.protoMessageName,
            acceptsClientMessages: true
        ) { payload, call in
            try self.subscribe(payload, call: call)
        }
    }

    /// Joins the hub and returns; the subscription then lives on its event
    /// loop (`SubscriberOutlet`), holding no task while it idles. Acks come in
    /// through the returned handlers.
    private func subscribe(_ payload: ByteBuffer, call: RPCLoopCall) throws -> RPCLoopCall.Handlers {
        let context = call.context
        let request = try ProtobufCoding.decode(Gatehouse_V1_SubscribeRequest.self, from: payload, what: "request")
        guard case .start(let start) = request.message else {
            throw RPCError(.invalidArgument, "a subscription's request must be a SubscribeRequest with `start`; acks follow as client messages")
        }
        let instance = try self.subscriber(start)
        let principal: Principal
        if start.watchOnly {
            principal = self.authorizer.principal(of: context)
            guard principal.mayActFor(component: instance.component) else {
                throw RPCError(.permissionDenied, "\(principal.name) may watch only its own component, not \(instance.component)")
            }
        } else {
            principal = try self.checkActsAsItself(instance.component, context: context)
        }
        let since: Revision? = start.sinceRevisionPresent.map { present in
            switch present { case .sinceRevision(let value): Revision(value) }
        }

        let key = InstanceRegistry.Key(component: instance.component, instanceID: instance.instanceID)
        let registry = self.registry
        let watchOnly = start.watchOnly
        let outlet = SubscriberOutlet(writer: call.writer, limits: self.hub.configuration.queue, isWatch: watchOnly, fanOut: self.gates.metrics.fanOutDuration) { revision in
            if !watchOnly { registry.pushed(key, revision: revision) }
        }
        if !watchOnly {
            // Counted before it joins, so a full component is refused before anything is pushed.
            do throws(InstanceRegistry.Full) {
                try self.registry.subscribed(instance, identity: principal.name)
            } catch {
                throw Self.refusal(error)
            }
        }
        let join: SubscriptionHub.Join
        do {
            // Its registered labels decide which rollouts' selections cover it (a watch of the component has none).
            let labels = instance.instanceID.isEmpty ? [:] : self.registry.registered(component: key.component, instanceID: key.instanceID)?.labels ?? [:]
            join = try self.hub.join(instance, labels: labels, since: since, outlet: outlet)
        } catch {
            if !watchOnly { self.registry.unsubscribed(key) }
            throw error
        }
        // A resumed instance's applied revision is known at once, not at its next ack after a change
        // (PROTOCOL.md 6.1, "Applied revision"): replayed nothing, it holds the hub's state already;
        // replayed deltas, it holds `since` until it acks the last of them, which brings it to the hub's.
        let catchUp = !watchOnly && join.resumed ? join.lastReplayed.map { CatchUp(ack: $0, holds: join.revision) } : nil
        if !watchOnly, join.resumed, let since { self.registry.resumed(key, holding: join.lastReplayed == nil ? join.revision : since) }
        // No logger is kept per subscription (thousands idle): one is built when there is something to log.
        if context.logLevel <= .debug {
            Self.logger(for: call, instance).debug(
                "subscribed",
                metadata: ["resumed": "\(join.resumed)", "since": "\(since.map { "\($0.rawValue)" } ?? "-")"]
            )
        }
        outlet.start(join, revision: self.hub.revision)

        // However it ends (a failed write, a cut-off, shutdown, the call ending), the outlet says why once.
        outlet.ended.assumeIsolated().whenSuccess { [hub = self.hub] reason in
            hub.leave(join.id)
            if !watchOnly { registry.unsubscribed(key) }
            if call.context.logLevel <= .debug {
                Self.logger(for: call, instance).debug("unsubscribed", metadata: ["reason": "\(reason)"])
            }
            call.finish(reason)
        }
        return RPCLoopCall.Handlers(
            message: { payload in
                try self.receiveAck(payload, key: key, watchOnly: watchOnly, catchUp: catchUp) { Self.logger(for: call, instance) }
            },
            ended: { reason in
                outlet.finish(reason)
            }
        )
    }

    /// The call's logger with the subscriber named.
    private static func logger(for call: RPCLoopCall, _ instance: InstanceRef) -> Logger {
        var logger = call.context.logger
        logger[metadataKey: "instance"] = "\(instance)"
        return logger
    }

    /// The instance a subscription is for; a watch may name only the component.
    private func subscriber(_ start: Gatehouse_V1_SubscribeStart) throws -> InstanceRef {
        try GateService.mapping { try self.limits.checkSubscriber(component: start.component, instanceID: start.instanceID, version: start.version) }
        if start.watchOnly && start.instanceID.isEmpty {
            let probe = try GateService.mapping { try InstanceRef(validating: start.component, instanceID: "component", version: start.version) }
            return InstanceRef(component: probe.component, instanceID: "", version: probe.version)
        }
        return try GateService.mapping { try InstanceRef(validating: start.component, instanceID: start.instanceID, version: start.version) }
    }

    /// What the ack of a resumed subscription's last replayed delta means: the instance
    /// holds the state of the hub's revision at the join (no batch after `ack` changed it).
    struct CatchUp: Sendable, Hashable {
        var ack: Revision
        var holds: Revision
    }

    /// Records one client message after the start: an ack, a NACK, a health report or a prepare ack.
    private func receiveAck(_ payload: ByteBuffer, key: InstanceRegistry.Key, watchOnly: Bool, catchUp: CatchUp?, logger: () -> Logger) throws {
        let message = try ProtobufCoding.decode(Gatehouse_V1_SubscribeRequest.self, from: payload, what: "client message")
        switch message.message {
        case .ack(let ack):
            guard !watchOnly else {
                throw RPCError(.invalidArgument, "a watch-only subscription sends no acks")
            }
            try self.record(ack, key: key, catchUp: catchUp, logger: logger)
        case .health(let report):
            guard !watchOnly else {
                throw RPCError(.invalidArgument, "a watch-only subscription sends no health reports: it is not the instance's liveness")
            }
            self.record(report, key: key, logger: logger)
        case .prepareAck(let answer):
            guard !watchOnly else {
                throw RPCError(.invalidArgument, "a watch-only subscription is never sent a Prepare")
            }
            self.prepareAcks.receive(answer, from: key)
        case .start:
            throw RPCError(.invalidArgument, "a subscription starts once: after the start, client messages are acks, health reports and prepare acks")
        case nil:
            throw RPCError(.invalidArgument, "after the start, a subscription's client messages must be acks, health reports or prepare acks")
        }
    }

    private func record(_ ack: Gatehouse_V1_Ack, key: InstanceRegistry.Key, catchUp: CatchUp?, logger: () -> Logger) throws {
        let revision = Revision(ack.revision)
        let current = self.hub.revision
        guard revision <= current else {
            throw RPCError(.invalidArgument, "ack for r\(ack.revision), but the server is at r\(current.rawValue)")
        }
        if case .error(let error) = ack.errorPresent {
            logger().warning(
                "instance rejected a revision",
                metadata: ["revision": "\(ack.revision)", "reason": "\(error.reason)", "message": "\(error.message)"]
            )
            self.registry.nacked(
                key,
                .init(revision: revision, reason: error.reason, message: error.message, entries: error.entries, timeUnixMilliseconds: 0)
            )
            self.gates.metrics.nacked(component: key.component)
        } else {
            self.registry.acked(key, revision: catchUp.map { $0.ack == revision ? $0.holds : revision } ?? revision)
        }
    }

    /// Keeps the instance's latest health report (bounded by the registry); a change of verdict is logged.
    private func record(_ report: Gatehouse_V1_HealthReport, key: InstanceRegistry.Key, logger: () -> Logger) {
        let before = self.registry.reportedHealth(
            key,
            .init(healthy: report.healthy, message: report.message, entries: report.entries, checkedAtUnixMilliseconds: report.checkedAtUnixMs)
        )
        if before != report.healthy {
            let message = RequestLimits.truncated(report.message, octets: InstanceRegistry.healthMessageOctets)
            if report.healthy {
                logger().info("instance reports healthy", metadata: ["message": "\(message)"])
            } else {
                logger().warning("instance reports unhealthy", metadata: ["message": "\(message)", "entries": "\(report.entries.prefix(InstanceRegistry.healthEntriesKept).joined(separator: ","))"])
            }
        }
    }

    // MARK: - List and convergence

    private func list(_ request: Gatehouse_V1_ListComponentsRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ListComponentsResponse {
        let component = try self.readableComponent(request.component, context: context)
        // Paged in (component, instance id) order from the live registry (PROTOCOL.md 6.2).
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let token = try GateService.token(request.pageToken, method: "Components/List", filters: filters)
        let revision = self.hub.revision.rawValue
        let records = self.registry.list(component: component, connectedOnly: request.connectedOnly)
            .map { (key: "\($0.key.component)\u{0}\($0.key.instanceID)", record: $0) }
            .sorted { $0.key < $1.key }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize).page(records, key: \.key, after: token?.after) {
            Self.wire($0.record)
        }
        return .with { response in
            response.revision = revision
            response.instances = page.entries
            if let next = page.next {
                response.nextPageToken = PageToken(method: "Components/List", revision: revision, filter: GateService.digest(filters), after: next).text
            }
        }
    }

    private func convergence(_ request: Gatehouse_V1_ConvergenceRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ConvergenceResponse {
        let component = try self.readableComponent(request.component, context: context)
        let feature = request.feature.isEmpty ? nil : request.feature
        if let feature, self.state().feature(feature) == nil {
            throw RPCError(.notFound, "no feature named \(feature); list them with `gatectl features list`")
        }
        let records = self.registry.list(component: component)
        let byComponent = Dictionary(grouping: records, by: \.key.component)
        return .with { response in
            response.revision = self.hub.revision.rawValue
            response.components = byComponent.keys.sorted().compactMap { name in
                self.convergence(of: name, records: byComponent[name] ?? [], feature: feature)
            }
        }
    }

    /// One component's convergence; nil when `feature` does not apply to any of its connected instances.
    private func convergence(of component: String, records: [InstanceRegistry.Record], feature: String?) -> Gatehouse_V1_ComponentConvergence? {
        var entry = Gatehouse_V1_ComponentConvergence.with {
            $0.component = component
            $0.instances = UInt32(records.count)
        }
        var lagging: [String] = []
        var minimum: Revision?
        var applies = feature == nil
        for record in records {
            if record.failing { entry.nacked += 1 }
            guard record.connected else { continue }
            entry.connected += 1
            minimum = min(minimum ?? record.appliedRevision, record.appliedRevision)
            guard let target = self.hub.target(for: record.instance, feature: feature) else { continue }
            applies = true
            entry.targetRevision = max(entry.targetRevision, target.revision.rawValue)
            if target.enabled == true { entry.enabled += 1 }
            if record.appliedRevision >= target.revision && !record.failing {
                entry.converged += 1
            } else {
                lagging.append(record.key.instanceID)
            }
        }
        entry.minAppliedRevision = minimum?.rawValue ?? 0
        entry.laggingInstanceIds = Array(lagging.sorted().prefix(Self.laggingShown))
        return applies ? entry : nil
    }

    static let laggingShown = 20

    /// The component a caller may read: its own for a component, any (or all) otherwise.
    private func readableComponent(_ requested: String, context: RPCServerContext) throws -> String? {
        let principal = self.authorizer.principal(of: context)
        if principal.roles.isDisjoint(with: [.admin, .operator, .viewer]) {
            let own = principal.identity?.commonName ?? ""
            guard requested.isEmpty || requested == own else {
                throw RPCError(.permissionDenied, "\(principal.name) may read only its own component, not \(requested)")
            }
            return own
        }
        return requested.isEmpty ? nil : requested
    }

    static func wire(_ record: InstanceRegistry.Record) -> Gatehouse_V1_ComponentInstance {
        .with {
            $0.component = record.key.component
            $0.instanceID = record.key.instanceID
            $0.version = record.version
            $0.labels = record.labels
            $0.connected = record.connected
            $0.lastSeenUnixMs = record.lastSeenUnixMilliseconds
            $0.appliedRevision = record.appliedRevision.rawValue
            $0.pushedRevision = record.pushedRevision.rawValue
            $0.registeredAtUnixMs = record.registeredAtUnixMilliseconds
            $0.identity = record.identity
            $0.server = record.server
            if let health = record.health {
                $0.health = .with {
                    $0.healthy = health.healthy
                    $0.message = health.message
                    $0.entries = health.entries
                    $0.checkedAtUnixMs = health.checkedAtUnixMilliseconds
                }
            }
            $0.nacks = record.nacks.map { nack in
                .with {
                    $0.revision = nack.revision.rawValue
                    $0.timeUnixMs = nack.timeUnixMilliseconds
                    $0.error = .with {
                        $0.reason = nack.reason
                        $0.message = nack.message
                        $0.entries = nack.entries
                    }
                }
            }
        }
    }
}
