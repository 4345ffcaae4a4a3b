import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseStore
import GatehouseWire
import Logging

/// `gatehouse.v1.Rollouts`: start, read and steer staged rollouts.
///
/// Every write is one `Change.putRollout` committed through
/// ``GateService/commit(method:logger:isCancelled:making:)``: the transition is
/// decided by Core's state machine against the very state it applies to, so
/// an operator's pause and the driver's next step cannot undo each other,
/// and each is audited, persisted and pushed like any other change.
final class RolloutService: Sendable {
    let gates: GateService
    let driver: RolloutDriver
    let authorizer: Authorizer

    init(gates: GateService, driver: RolloutDriver, authorizer: Authorizer) {
        self.gates = gates
        self.driver = driver
        self.authorizer = authorizer
    }

    var methods: [RPCMethod] {
        let read: [RPCMethod] = [
            .unary("/gatehouse.v1.Rollouts/List", self.list),
            .unary("/gatehouse.v1.Rollouts/Get", self.get),
        ]
        let operate: [RPCMethod] = [
            .unary("/gatehouse.v1.Rollouts/Start", self.start),
            .unary("/gatehouse.v1.Rollouts/Pause") { request, context in try await self.act(.pause, request, context: context) },
            .unary("/gatehouse.v1.Rollouts/Resume") { request, context in try await self.act(.resume, request, context: context) },
            .unary("/gatehouse.v1.Rollouts/Promote") { request, context in try await self.act(.promote, request, context: context) },
            .unary("/gatehouse.v1.Rollouts/Abort") { request, context in try await self.act(.abort, request, context: context) },
        ]
        return read.map { self.authorizer.guarding($0, with: .read) } + operate.map { self.authorizer.guarding($0, with: .operate) }
    }

    // MARK: - Reads

    /// Newest first (by start time, then name), paged like every listing (PROTOCOL.md 6.2).
    private func list(_ request: Gatehouse_V1_ListRolloutsRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ListRolloutsResponse {
        let scope = self.gates.readScope(context)
        let component = try scope.filter(request.component)
        var filters = request
        filters.pageSize = 0
        filters.pageToken = ""
        let paging = try self.gates.paging(request.pageToken, method: "Rollouts/List", filters: filters, scope: scope)
        let listing = paging.listing { state in
            state.rollouts.values
                .filter { component == nil || $0.component == component }
                .filter { request.feature.isEmpty || $0.target == .feature(request.feature) }
                .filter { !request.activeOnly || $0.isActive }
                .map { (key: Self.pageKey($0), rollout: $0) }
                .sorted { $0.key < $1.key }
        }
        let page = try Pager(requested: request.pageSize, frame: context.peerMaxFrameSize).page(
            listing.value,
            key: \.key,
            after: paging.token?.after
        ) { $0.rollout.wire(revision: $0.rollout.revision) }
        return .with {
            $0.rollouts = page.entries
            $0.revision = listing.revision.rawValue
            $0.nextPageToken = paging.next(page.next, listing, entries: listing.value.count)
        }
    }

    /// Newest first: the start time counted down from the largest, then the name.
    static func pageKey(_ rollout: Rollout) -> String {
        let countdown = UInt64(bitPattern: Int64.max - max(rollout.createdAt.rawValue, 0))
        let digits = String(countdown)
        return String(repeating: "0", count: 20 - digits.count) + digits + "\u{0}" + rollout.name
    }

    private func get(_ request: Gatehouse_V1_GetRolloutRequest, context: RPCServerContext) async throws -> Gatehouse_V1_GetRolloutResponse {
        let scope = self.gates.readScope(context)
        let state = self.gates.state
        guard let rollout = state.rollout(request.name), scope.mayRead(component: rollout.component) else {
            // A component learns nothing of another component's rollouts, not even that one exists.
            throw Self.notFound(request.name)
        }
        let canaries = self.driver.canaries(of: rollout, in: state)
        return .with { response in
            response.rollout = rollout.wire(revision: rollout.revision)
            response.revision = state.revision.rawValue
            response.selected = UInt32(clamping: canaries.selected)
            response.canaries = UInt32(clamping: canaries.statuses.count)
            response.acked = UInt32(clamping: canaries.statuses.count { $0.acked })
            response.unhealthy = UInt32(clamping: canaries.statuses.count { $0.unhealthy })
            response.canaryStatus = canaries.statuses.prefix(Self.canariesShown).map(\.wire)
        }
    }

    /// Canaries a Get lists, lowest buckets first.
    static let canariesShown = 100

    static func notFound(_ name: String) -> RPCError {
        GateError.rolloutNotFound(name).rpcError
    }

    // MARK: - Writes

    private func start(_ request: Gatehouse_V1_StartRolloutRequest, context: RPCServerContext) async throws -> Gatehouse_V1_StartRolloutResponse {
        let actor = self.authorizer.name(of: context)
        let rollout = try GateService.mapping { try Rollout(wire: request.spec, actor: actor, field: "spec") }
        try GateService.mapping { try self.gates.limits.checkLabels(rollout.labels) }
        // The spec's own rules, refused here before the writer sees it (the applier checks them again);
        // an unnamed rollout is named when it commits.
        var named = rollout
        if named.name.isEmpty { named.name = "r1" }
        try GateService.mapping { try named.validateSpec() }
        let reason = request.reason.isEmpty ? "start rollout" : request.reason
        try GateService.mapping { try self.gates.limits.checkWrite(ChangeBatch(changes: [], reason: reason, actor: actor), isSet: false) }
        let driver = self.driver
        if request.dryRun {
            let state = self.gates.state
            let time = UnixMilliseconds(self.gates.now())
            let batch = driver.startBatch(rollout, reason: reason, state: state, at: time)
            let applied = try GateService.mapping { try BatchApplier().apply(batch, to: state, at: time, live: self.gates.liveReplicas()) }
            let name = batch.changes.lazy.compactMap { change -> String? in
                guard case .putRollout(let put) = change else { return nil }
                return put.name
            }.first
            let stored = name.flatMap { applied.state.rollout($0) } ?? rollout
            return .with {
                $0.rollout = stored.wire(revision: state.revision)
                $0.revision = state.revision.rawValue
            }
        }
        let committed = try await self.gates.commit(method: context.path, logger: context.logger, isCancelled: { context.isCancelled }) { state, time in
            driver.startBatch(rollout, reason: reason, state: state, at: time)
        }
        guard let stored = Self.stored(committed) else {
            throw RPCError(.internal, "the rollout was committed at r\(committed.revision.rawValue) but the batch holds none")
        }
        self.driver.log(started: stored)
        return .with {
            $0.rollout = stored.wire(revision: stored.revision)
            $0.revision = committed.revision.rawValue
        }
    }

    /// The rollout as a committed batch wrote it.
    static func stored(_ committed: Committed<BatchSummary>) -> Rollout? {
        for change in committed.value.changes {
            if case .rollout(let rollout)? = change.after { return rollout }
        }
        return nil
    }

    /// Pause, resume, promote or abort: the machine decides on the latest state; an illegal one is refused there.
    private func act(_ action: RolloutDriver.OperatorAction, _ request: Gatehouse_V1_RolloutActionRequest, context: RPCServerContext) async throws -> Gatehouse_V1_RolloutActionResponse {
        let actor = self.authorizer.name(of: context)
        let name = request.name
        let reason = request.reason
        try GateService.mapping { try self.gates.limits.checkWrite(ChangeBatch(changes: [], reason: reason, actor: actor), isSet: false) }
        let driver = self.driver
        let committed = try await self.gates.commit(method: context.path, logger: context.logger, isCancelled: { context.isCancelled }) { state, time in
            let rollout = try state.requireRollout(name)
            return try driver.operatorBatch(action, on: rollout, reason: reason, actor: actor, state: state, at: time)
        }
        if let stored = Self.stored(committed) { self.driver.log(action, stored, actor: actor) }
        // A batch that changed nothing (no transition) took no revision: the rollout is as stored.
        guard let stored = Self.stored(committed) ?? self.gates.state.rollout(name) else { throw Self.notFound(name) }
        return .with {
            $0.rollout = stored.wire(revision: stored.revision)
            $0.revision = committed.revision.rawValue
        }
    }
}
