import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseStore
import GatehouseWire
import NIOCore
import Synchronization

/// `gatehouse.v1.Apis/Activate`: changes one API on every live replica of a
/// component together, in two phases (PROTOCOL.md 3.8).
///
/// Kubernetes #96486: HA apiservers enabled one at a time disagree about
/// which APIs exist until the last one restarts. Here the server first asks
/// every subscribed replica of the component to prepare (Prepare on its
/// Subscribe stream, with the state its APIs will have); only when all
/// answer ready does it commit the component override, as one batch, so
/// every replica is pushed the same revision. A refusal, a replica leaving
/// before it answered, the deadline, or the caller giving up cancels the
/// Prepare everywhere and commits nothing.
///
/// The decisions are `ActivationMachine`'s; this type validates, sends,
/// routes events into the machine and acts on what it returns.
final class ApiActivations: Sendable {
    static let defaultTimeoutMilliseconds: Int64 = 30_000
    static let maxTimeoutMilliseconds: Int64 = 600_000

    let gates: GateService
    let hub: SubscriptionHub
    let acks: PrepareAckInbox
    let authorizer: Authorizer
    /// Milliseconds since the Unix epoch (the server's clock, as the Prepare's deadline is).
    let now: @Sendable () -> Int64

    /// Activations in progress, by component: at most one each.
    private let inProgress = Mutex<[String: Running]>([:])

    private struct Running {
        var machine: ActivationMachine
        var api: APIRef
        /// Whoever awaits the decision, once it does.
        var waiter: CheckedContinuation<ActivationMachine.Decision, Never>?
    }

    init(gates: GateService, hub: SubscriptionHub, acks: PrepareAckInbox, authorizer: Authorizer, now: @escaping @Sendable () -> Int64) {
        self.gates = gates
        self.hub = hub
        self.acks = acks
        self.authorizer = authorizer
        self.now = now
    }

    var methods: [RPCMethod] {
        [self.authorizer.guarding(.unary("/gatehouse.v1.Apis/Activate", self.activate), with: .operate)]
    }

    // MARK: - The call

    private func activate(_ request: Gatehouse_V1_ActivateApiRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ActivateApiResponse {
        let plan = try self.plan(request, actor: self.authorizer.name(of: context))
        let id = UUID().uuidString.lowercased()
        let deadline = self.now() + plan.timeoutMilliseconds
        // Everyone asked is reached through the outlet of its latest subscription.
        let replicas = self.hub.replicaOutlets(of: plan.component)
        try self.claim(plan, machine: ActivationMachine(id: id, replicas: replicas.map(\.instance.instanceID), deadline: deadline))
        defer { self.release(plan.component, id: id) }
        self.register(replicas, component: plan.component, id: id)
        defer { self.acks.stopWaiting(for: id) }
        // Encoded for everyone before any is sent: a failure then leaves no replica prepared.
        let resolver = Resolver(state: plan.after)
        let prepares = try replicas.map { instance, outlet in
            let prepare = Gatehouse_V1_SubscribeResponse.with {
                $0.prepare = .with {
                    $0.id = id
                    $0.apis = Self.apis(selectedBy: plan.api, in: PushState(resolver.resolve(instance), in: plan.after))
                    $0.deadlineUnixMs = deadline
                }
            }
            return (outlet, try ProtobufCoding.encode(prepare))
        }
        for (outlet, bytes) in prepares {
            outlet.eventLoop.execute { outlet.sendControl(bytes) }
        }
        self.event(plan.component, id: id) { $0.start(at: self.now()) }

        let decision = await self.decision(plan.component, id: id)
        let logger = context.logger
        switch decision {
        case .commit(let prepared):
            let committed: Committed<BatchSummary>
            do {
                committed = try await self.gates.commit(plan.batch, context: context)
            } catch {
                // Refused now (the state moved since the dry run) or cancelled: nothing committed.
                self.cancel(replicas, id: id, reason: "the change was not committed: \(error)")
                throw error
            }
            logger.info(
                "API activated in two phases",
                metadata: [
                    "api": "\(plan.api)", "component": "\(plan.component)", "enabled": "\(request.enabled)",
                    "revision": "\(committed.revision)", "replicas": "\(prepared.count)",
                ]
            )
            return .with {
                $0.revision = committed.revision.rawValue
                $0.prepared = prepared
            }
        case .abort(let abort) where abort.cause == .cancelled:
            self.cancel(replicas, id: id, reason: "the activation was cancelled by its caller")
            throw RPCError(.cancelled, "the activation was cancelled; nothing was changed")
        case .abort(let abort):
            let error = Self.refusal(abort, plan: plan, asked: replicas.count)
            self.cancel(replicas, id: id, reason: error.message)
            logger.notice(
                "API activation aborted",
                metadata: ["api": "\(plan.api)", "component": "\(plan.component)", "why": "\(error.message)"]
            )
            throw error.rpcError
        }
    }

    // MARK: - Validation

    /// What an activation commits and asks replicas to prepare for, checked as a Set of it would be.
    struct Plan: Sendable {
        var api: APIRef
        var component: String
        var batch: ChangeBatch
        /// The state the batch leaves (the dry run's): what the Prepare tells each replica.
        var after: GateState
        var timeoutMilliseconds: Int64
    }

    /// Validates the request and runs the batch as a dry run, so every refusal comes before any Prepare.
    func plan(_ request: Gatehouse_V1_ActivateApiRequest, actor: String) throws -> Plan {
        let api = try GateService.mapping { try APIRef(wire: request.api, field: "api") }
        guard !request.component.isEmpty else {
            throw GateError(
                "a component is required: the replicas of one component are activated together (e.g. kube-apiserver)",
                reason: .invalidField,
                metadata: ["field": "component"]
            ).rpcError
        }
        let timeout = request.timeoutMs == 0 ? Self.defaultTimeoutMilliseconds : request.timeoutMs
        guard timeout > 0, timeout <= Self.maxTimeoutMilliseconds else {
            throw GateError(
                "timeout_ms must be between 1 and \(Self.maxTimeoutMilliseconds) (10 minutes), or 0 for 30 s; got \(request.timeoutMs)",
                reason: .invalidField,
                metadata: ["field": "timeout_ms"]
            ).rpcError
        }
        let state = self.gates.state
        guard let definition = state.apis[api]?.value else {
            throw GateError(
                "unknown API \(api): no such API is defined (list them with `gatectl apis list`)",
                reason: .unknownAPI,
                metadata: ["api": api.description, "scope": Scope.component(request.component).key]
            ).rpcError
        }
        guard definition.applies(to: request.component) else {
            throw GateError(
                "API \(api) does not apply to \(request.component) (it applies to \(definition.components.joined(separator: ", ")))",
                reason: .notApplicable,
                metadata: ["scope": Scope.component(request.component).key, "component": request.component]
            ).rpcError
        }
        let batch = ChangeBatch(
            changes: [.setAPI(.api(api), scope: .component(request.component), enabled: request.enabled)],
            reason: request.reason,
            actor: actor
        )
        try GateService.mapping { try self.gates.limits.checkWrite(batch, isSet: true) }
        // The same checks a Set of this override would face (locks, dependencies, masking), now.
        let applied = try GateService.mapping {
            try BatchApplier().apply(batch, to: state, at: UnixMilliseconds(self.now()), live: self.gates.liveReplicas())
        }
        return Plan(api: api, component: request.component, batch: batch, after: applied.state, timeoutMilliseconds: timeout)
    }

    /// The APIs a group/version (and its resources) or one resource covers, as `pushed` will have them.
    static func apis(selectedBy api: APIRef, in pushed: PushState) -> [Gatehouse_V1_EffectiveApi] {
        pushed.apis.values
            .filter { $0.ref == api || (api.resource == nil && $0.ref.groupVersion == api.groupVersion) }
            .sorted { $0.ref < $1.ref }
            .map(\.wire)
    }

    // MARK: - One per component

    private func claim(_ plan: Plan, machine: ActivationMachine) throws {
        let busy = self.inProgress.withLock { all -> Running? in
            if let running = all[plan.component] { return running }
            all[plan.component] = Running(machine: machine, api: plan.api)
            return nil
        }
        if let busy {
            let left = max(0, busy.machine.deadline - self.now())
            throw GateError(
                "an activation of \(busy.api) on \(plan.component) is in progress (its replicas have \((left + 999) / 1000) s left to answer); wait for it to finish, then retry",
                reason: .activationInProgress,
                metadata: ["component": plan.component, "api": busy.api.description]
            ).rpcError
        }
    }

    private func release(_ component: String, id: String) {
        self.inProgress.withLock { all in
            if all[component]?.machine.id == id { all[component] = nil }
        }
    }

    // MARK: - Events

    /// Acks and stream ends of the replicas asked become events of this activation.
    private func register(_ replicas: [(instance: InstanceRef, outlet: SubscriberOutlet)], component: String, id: String) {
        self.acks.wait(for: id) { answer in
            guard answer.component == component else { return }
            let message = answer.ack.error.message.isEmpty ? answer.ack.error.reason : answer.ack.error.message
            self.event(component, id: id) { $0.acked(answer.instanceID, ready: answer.ack.ready, message: message, at: self.now()) }
        }
        for (instance, outlet) in replicas {
            outlet.ended.whenComplete { _ in
                self.event(component, id: id) { $0.disconnected(instance.instanceID, at: self.now()) }
            }
        }
    }

    /// Feeds one event to the activation `id` of `component` (if it is still the one running)
    /// and, when that decides, wakes whoever waits for the decision.
    private func event(_ component: String, id: String, _ body: (inout ActivationMachine) -> ActivationMachine.Decision?) {
        let wake = self.inProgress.withLock { all -> (CheckedContinuation<ActivationMachine.Decision, Never>, ActivationMachine.Decision)? in
            guard all[component]?.machine.id == id, let decision = body(&all[component]!.machine) else { return nil }
            guard let waiter = all[component]!.waiter else { return nil }
            all[component]!.waiter = nil
            return (waiter, decision)
        }
        if let (waiter, decision) = wake { waiter.resume(returning: decision) }
    }

    /// Waits for the machine's decision, ticking it at the deadline; cancelling the call cancels the activation.
    private func decision(_ component: String, id: String) async -> ActivationMachine.Decision {
        let timer = Task {
            while !Task.isCancelled {
                let deadline = self.inProgress.withLock { $0[component]?.machine.deadline } ?? 0
                let left = deadline - self.now()
                if left > 0 {
                    guard (try? await Task.sleep(for: .milliseconds(left))) != nil else { return }
                }
                self.event(component, id: id) { $0.tick(at: self.now()) }
                if left <= 0 { return }
            }
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ActivationMachine.Decision, Never>) in
                let decided = self.inProgress.withLock { all -> ActivationMachine.Decision? in
                    guard all[component]?.machine.id == id else { return .abort(.init(cause: .cancelled, replicas: [])) }
                    if let decision = all[component]!.machine.decision { return decision }
                    all[component]!.waiter = continuation
                    return nil
                }
                if let decided { continuation.resume(returning: decided) }
            }
        } onCancel: {
            self.event(component, id: id) { $0.cancelled() }
        }
    }

    // MARK: - Outcomes

    /// Tells every replica asked that the prepared change is off.
    private func cancel(_ replicas: [(instance: InstanceRef, outlet: SubscriberOutlet)], id: String, reason: String) {
        let message = Gatehouse_V1_SubscribeResponse.with {
            $0.prepareCancel = .with {
                $0.id = id
                $0.reason = RequestLimits.truncated(reason, octets: 1024)
            }
        }
        guard let bytes = try? ProtobufCoding.encode(message) else { return }
        for (_, outlet) in replicas {
            outlet.eventLoop.execute { outlet.sendControl(bytes) }
        }
    }

    /// The refusal an aborted activation answers with, naming the replicas and what they said.
    static func refusal(_ abort: ActivationMachine.Abort, plan: Plan, asked: Int) -> GateError {
        let named = abort.replicas.prefix(20).map { "\($0.instanceID): \($0.message)" }.joined(separator: "; ")
        let more = abort.replicas.count > 20 ? "; and \(abort.replicas.count - 20) more" : ""
        let what = "activation of \(plan.api) on \(plan.component) aborted, nothing was changed"
        let metadata = [
            "api": plan.api.description, "component": plan.component,
            "replicas": abort.replicas.map(\.instanceID).joined(separator: ","),
        ]
        switch abort.cause {
        case .refused:
            return GateError(
                "\(what): \(abort.replicas.count) of \(asked) replicas could not prepare (\(named)\(more)); fix what they report (or take them out of service) and retry",
                reason: .prepareRefused,
                metadata: metadata
            )
        case .timedOut:
            return GateError(
                "\(what): \(abort.replicas.count) of \(asked) replicas did not answer the Prepare within \(plan.timeoutMilliseconds) ms (\(named)\(more)); check that they run an SDK with a prepare handler and are not stuck, or retry with a longer timeout",
                reason: .prepareTimeout,
                metadata: metadata
            )
        case .cancelled:
            // Answered as CANCELLED by the call itself; kept for a complete switch.
            return GateError("\(what): the call was cancelled", reason: .prepareRefused, metadata: metadata)
        }
    }
}
