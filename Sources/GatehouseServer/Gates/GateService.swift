import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseRPC
import GatehouseStore
import GatehouseWire
import Logging
import NIOCore
import Yams

/// `gatehouse.v1.Features` and `gatehouse.v1.Apis`: the catalog, overrides,
/// explanations and history, over the durable store.
///
/// Every change goes through `BatchApplier` inside the store's pipeline, so it
/// is validated against the state that includes every batch submitted before
/// it, written in one group commit, and acknowledged only once durable.
public final class GateService: Sendable {
    typealias Submit = @Sendable (
        _ transform: @escaping @Sendable (GateState, Revision) throws -> Transformation<GateState, BatchSummary>,
        _ completion: @escaping @Sendable (Result<Committed<BatchSummary>, any Error>) -> Void
    ) -> Void

    let store: any GateStore<GateState>
    /// `store.submit`, bound to the store's concrete type where the service is made: through
    /// the existential, every submission would run the store's generic code unspecialised.
    let submit: Submit
    let authorizer: Authorizer
    /// The replicas a change must not leave behind (skew guard); registrations feed it.
    let liveReplicas: @Sendable () -> LiveReplicas
    /// An instance's registered version and labels, connected or not (the
    /// registry's): Explain of an instance computes its rollout cohorts from them.
    let registeredInstance: @Sendable (_ component: String, _ instanceID: String) -> (version: Version?, labels: [String: String])?
    /// Milliseconds since the Unix epoch: the only clock, injected.
    let now: @Sendable () -> Int64
    /// Told of every committed batch, once durable and in revision order (subscriptions);
    /// must not block. `endsGroup` is the store's ``Committed/endsGroup``: false when
    /// more of the same group follow at once. A submission that changed nothing
    /// passes no batch, only that signal.
    let committed: @Sendable (_ batch: BatchSummary?, _ endsGroup: Bool) -> Void
    /// Bounds on a write's reason, a Set's changes and an audit entry's size.
    let limits: RequestLimits
    /// The states paged listings started at, for their later pages.
    let listings = ListingSnapshots()
    /// Commit latency, group sizes and rollout transitions.
    let metrics: ServerMetrics

    public convenience init<Store: GateStore<GateState>>(
        store: Store,
        authorizer: Authorizer,
        liveReplicas: @escaping @Sendable () -> LiveReplicas = { .none },
        registeredInstance: @escaping @Sendable (_ component: String, _ instanceID: String) -> (version: Version?, labels: [String: String])? = { _, _ in nil },
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
        limits: RequestLimits = RequestLimits(),
        committed: @escaping @Sendable (_ batch: BatchSummary?, _ endsGroup: Bool) -> Void = { _, _ in }
    ) {
        self.init(
            store: store, authorizer: authorizer, liveReplicas: liveReplicas, registeredInstance: registeredInstance,
            now: now, limits: limits, metrics: .none, committed: committed
        )
    }

    /// As the public initializer, recording commits into `metrics` (the server's own).
    init<Store: GateStore<GateState>>(
        store: Store,
        authorizer: Authorizer,
        liveReplicas: @escaping @Sendable () -> LiveReplicas,
        registeredInstance: @escaping @Sendable (_ component: String, _ instanceID: String) -> (version: Version?, labels: [String: String])?,
        now: @escaping @Sendable () -> Int64,
        limits: RequestLimits,
        metrics: ServerMetrics,
        committed: @escaping @Sendable (_ batch: BatchSummary?, _ endsGroup: Bool) -> Void
    ) {
        self.limits = limits
        self.metrics = metrics
        self.store = store
        self.submit = { transform, completion in store.submit(transform, completion: completion) }
        self.authorizer = authorizer
        self.liveReplicas = liveReplicas
        self.registeredInstance = registeredInstance
        self.now = now
        self.committed = committed
    }

    /// The state every reader sees: the last committed snapshot.
    var state: GateState { self.store.snapshot.state }

    // MARK: - Methods

    var methods: [RPCMethod] {
        let read: [RPCMethod] = [
            .unary("/gatehouse.v1.Features/List", self.listFeatures),
            .unary("/gatehouse.v1.Features/Get", self.getFeature),
            .unary("/gatehouse.v1.Features/Explain", self.explain),
            .unary("/gatehouse.v1.Features/History", self.history),
            .unary("/gatehouse.v1.Apis/List", self.listAPIs),
            .unary("/gatehouse.v1.Apis/Get", self.getAPI),
        ]
        // Set starts on the event loop: it only hands the batch to the store and waits.
        let operate: [RPCMethod] = [.unaryOnEventLoop("/gatehouse.v1.Features/Set", self.set)]
        let administer: [RPCMethod] = [
            .unary("/gatehouse.v1.Features/Define", self.defineFeature),
            .unary("/gatehouse.v1.Features/ImportCatalog", self.importCatalog),
            .unary("/gatehouse.v1.Apis/Define", self.defineAPI),
        ]
        return read.map { self.guarded(.read, $0) } + operate.map { self.guarded(.operate, $0) }
            + administer.map { self.guarded(.administer, $0) }
    }

    private func set(_ request: Gatehouse_V1_SetRequest, context: RPCServerContext, eventLoop: any EventLoop) -> EventLoopFuture<Gatehouse_V1_SetResponse> {
        let batch: ChangeBatch
        do {
            batch = try Self.mapping { try ChangeBatch(wire: request, actor: self.actor(context)) }
            try Self.mapping { try self.limits.checkWrite(batch, isSet: true) }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        guard !request.dryRun else {
            let state = self.state
            let (time, live) = (UnixMilliseconds(self.now()), self.liveReplicas())
            let promise = eventLoop.makePromise(of: Gatehouse_V1_SetResponse.self)
            // Validated off the loop: a large batch's checks would hold up every connection on it.
            DispatchQueue.global().async {
                promise.completeWith(
                    Result {
                        let applied = try Self.mapping { try BatchApplier().apply(batch, to: state, at: time, live: live) }
                        var response = Self.setResponse(applied.summary, revision: state.revision)
                        response.dryRun = true
                        return response
                    }
                )
            }
            return promise.futureResult
        }
        let promise = eventLoop.makePromise(of: Gatehouse_V1_SetResponse.self)
        self.commit(batch, context: context) { result in
            // The response is built on the loop, not on the store's writer,
            // which every toggle waits for; one hop and one future per call.
            eventLoop.execute {
                promise.completeWith(
                    result.map { committed in Self.setResponse(committed.value, revision: committed.revision) }
                )
            }
        }
        return promise.futureResult
    }

    private func defineFeature(_ request: Gatehouse_V1_DefineFeatureRequest, context: RPCServerContext) async throws -> Gatehouse_V1_DefineFeatureResponse {
        let feature = try Self.mapping { try FeatureDefinition(wire: request.feature, field: "feature") }
        let expected = request.expectedRevisionPresent.map { present -> Revision in
            switch present { case .expectedRevision(let value): Revision(value) }
        }
        let batch = ChangeBatch(changes: [.defineFeature(feature)], expectedRevision: expected, reason: request.reason, actor: self.actor(context))
        let committed = try await self.commit(batch, context: context)
        return .with { $0.revision = committed.revision.rawValue }
    }

    private func defineAPI(_ request: Gatehouse_V1_DefineApiRequest, context: RPCServerContext) async throws -> Gatehouse_V1_DefineApiResponse {
        let api = try Self.mapping { try APIDefinition(wire: request.api, field: "api") }
        let expected = request.expectedRevisionPresent.map { present -> Revision in
            switch present { case .expectedRevision(let value): Revision(value) }
        }
        let batch = ChangeBatch(changes: [.defineAPI(api)], expectedRevision: expected, reason: request.reason, actor: self.actor(context))
        let committed = try await self.commit(batch, context: context)
        return .with { $0.revision = committed.revision.rawValue }
    }

    private func importCatalog(_ request: Gatehouse_V1_ImportCatalogRequest, context: RPCServerContext) async throws -> Gatehouse_V1_ImportCatalogResponse {
        let yaml = request.yaml
        let catalog = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Catalog, any Error>) in
            Self.importQueue.async { continuation.resume(with: Result { try Self.parseCatalog(yaml) }) }
        }
        try Task.checkCancellation()
        let expected = request.expectedRevisionPresent.map { present -> Revision in
            switch present { case .expectedRevision(let value): Revision(value) }
        }
        let batch = ChangeBatch.importing(
            catalog,
            actor: self.actor(context),
            reason: request.reason.isEmpty ? "catalog import" : request.reason,
            expectedRevision: expected
        )
        let committed = try await self.commit(batch, context: context)
        return .with {
            $0.revision = committed.revision.rawValue
            $0.features = UInt32(catalog.features.count)
            $0.apis = UInt32(catalog.apis.count)
        }
    }

    private func guarded(_ access: MethodAccess, _ method: RPCMethod) -> RPCMethod {
        self.authorizer.guarding(method, with: access)
    }

    private func actor(_ context: RPCServerContext) -> String {
        self.authorizer.name(of: context)
    }

    // MARK: - Writes

    /// Validates and commits a batch in the store's pipeline; durable when it returns.
    func commit(_ batch: ChangeBatch, context: RPCServerContext) async throws -> Committed<BatchSummary> {
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            self.commit(batch, context: context) { continuation.resume(with: $0) }
        }
    }

    /// Validates and commits a batch in the store's pipeline; `completion` runs
    /// on the store's writer once the batch is durable (subscribers already
    /// told), or where it was refused: on the store's thread for the domain's
    /// refusal, at once on this thread when the store is closed.
    ///
    /// Errors reach `completion` as `RPCError`s: the domain's refusal with its
    /// code, a store failure as UNAVAILABLE (logged here).
    func commit(_ batch: ChangeBatch, context: RPCServerContext, completion: @escaping @Sendable (Result<Committed<BatchSummary>, any Error>) -> Void) {
        // The call's logger is built only if something is logged: a toggle's hot path.
        self.commit(batch, method: context.path, logLevel: context.logLevel, logger: { context.logger }, isCancelled: { context.isCancelled }, completion: completion)
    }

    /// Commits the batch `make` builds from the latest state, in the store's
    /// pipeline: a decision that depends on the state (a rollout's next step,
    /// an operator's pause) is made against the very state it applies to, so
    /// two of them racing cannot undo each other. `make` returns nil to change
    /// nothing (the result's summary is then empty and takes no revision).
    ///
    /// Usable without a call (the rollout driver): no call waits for it, so none can cancel it.
    /// Durable when it returns; refusals as for ``commit(_:context:)``. The caller bounds
    /// the reason of the batches `make` builds (``RequestLimits/checkWrite(_:isSet:)``).
    ///
    /// - Parameters:
    ///   - method: recorded as the audit entry's method, e.g. `/gatehouse.v1.Rollouts/Pause` or `rollout-driver`.
    ///   - make: runs on the store's stager with the latest state and the time the batch is stamped with.
    func commit(
        method: String,
        logger: Logger,
        isCancelled: @escaping @Sendable () -> Bool = { false },
        making make: @escaping @Sendable (GateState, UnixMilliseconds) throws -> ChangeBatch?
    ) async throws -> Committed<BatchSummary> {
        try await withCheckedThrowingContinuation { continuation in
            self.commit(making: make, method: method, logLevel: logger.logLevel, logger: { logger }, isCancelled: isCancelled) {
                continuation.resume(with: $0)
            }
        }
    }

    /// The commit path every write takes, with or without a call behind it.
    ///
    /// - Parameters:
    ///   - method: the audit entry's method (the RPC path, or the server's own name for the writer).
    ///   - isCancelled: checked when the batch reaches the front of the queue; a cancelled one is not committed.
    func commit(
        _ batch: ChangeBatch,
        method: String,
        logLevel: Logger.Level,
        logger: @escaping @Sendable () -> Logger,
        isCancelled: @escaping @Sendable () -> Bool,
        completion: @escaping @Sendable (Result<Committed<BatchSummary>, any Error>) -> Void
    ) {
        do throws(GateError) {
            // Every write's reason; a Set's changes were counted where it was decoded.
            try self.limits.checkWrite(batch, isSet: false)
        } catch {
            return completion(.failure(error.rpcError))
        }
        self.commit(making: { _, _ in batch }, method: method, logLevel: logLevel, logger: logger, isCancelled: isCancelled, completion: completion)
    }

    /// See ``commit(method:logger:isCancelled:making:)``; the caller has bounded the reason of what `make` builds.
    private func commit(
        making make: @escaping @Sendable (GateState, UnixMilliseconds) throws -> ChangeBatch?,
        method: String,
        logLevel: Logger.Level,
        logger: @escaping @Sendable () -> Logger,
        isCancelled: @escaping @Sendable () -> Bool,
        completion: @escaping @Sendable (Result<Committed<BatchSummary>, any Error>) -> Void
    ) {
        let time = UnixMilliseconds(self.now())
        let live = self.liveReplicas()
        let limits = self.limits
        let metrics = self.metrics
        let submitted = ServerMetrics.now()
        self.submit({ state, _ in
            // A call cancelled (or past its deadline) while queued is not committed: no one waits for it.
            guard !isCancelled() else { throw RPCError(.cancelled, "the call was cancelled before its change was applied") }
            guard let batch = try make(state, time) else { return .unchanged(BatchSummary(revision: state.revision, changes: [])) }
            let applied = try BatchApplier().apply(batch, to: state, at: time, live: live)
            let changes = applied.summary.changes
            guard !changes.isEmpty else { return .unchanged(applied.summary) }
            let encoded = try GateRecords.encode(changes)
            let audit = AuditEntry(
                timeUnixMilliseconds: time.rawValue,
                actor: batch.actor,
                method: method,
                reason: batch.reason,
                before: encoded.before,
                after: encoded.after,
                subjects: Self.subjects(of: changes)
            )
            // Every entry must fit one History response, or no one could ever read it.
            try limits.checkAuditEntry(octets: AuditEntrySize.upperBound(audit, changes: changes))
            return .commit(applied.state, records: encoded.records, audit: audit, value: applied.summary)
        }) { result in
            switch result {
            case .success(let committed):
                // On the writer, in revision order: subscribers see batches in the order they committed.
                self.committed(committed.changed ? committed.value : nil, committed.endsGroup)
                metrics.completed(changed: committed.changed, endsGroup: committed.endsGroup, since: submitted)
                if committed.changed { metrics.committed(committed.value) }
                if logLevel <= .debug {
                    logger().debug(
                        "batch committed",
                        metadata: ["revision": "\(committed.revision)", "changes": "\(committed.value.changes.count)"]
                    )
                }
                completion(.success(committed))
            case .failure(let error as GateError):
                completion(.failure(error.rpcError))
            case .failure(let error as StoreError):
                logger().error("store failed", metadata: ["error": "\(error)"])
                completion(.failure(Self.unsaved(error)))
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    /// What a caller whose change the store failed is told: UNAVAILABLE, retry later.
    ///
    /// A cluster store that etcd did not answer says so in etcd's words and
    /// names the endpoint (an operator reads it in gatectl's output); a local
    /// disk's failure is summarised, its details are in the server's log.
    static func unsaved(_ error: StoreError) -> RPCError {
        switch error {
        case .unreachable(_, _, let unsettled):
            return RPCError(.unavailable, "\(unsettled ? "the change may not have been saved" : "the change was not saved"): \(error)")
        case .sqlite, .schemaTooNew, .corrupt, .damaged, .invalidRecord, .alreadyOpen, .closed, .unavailable:
            return RPCError(.unavailable, "the change was not saved: the store failed (\(error.isDiskFull ? "disk full" : "I/O error")); retry later")
        }
    }

    /// The names an audit entry is found by, exactly those History filters on: features, APIs, components.
    ///
    /// An instance's changes are found through its component. Instances are
    /// not subjects of their own: nothing queries by one, and each instance
    /// would be its own place in the subject index, so every canary toggle
    /// dirtied one more page per commit (measured: a third of a toggle's
    /// SQLite time and most of its WAL bytes).
    static func subjects(of changes: [ObjectChange]) -> [String] {
        var subjects: Set<String> = []
        for change in changes {
            switch change.key {
            case .feature(let name):
                subjects.insert("feature:\(name)")
            case .api(let ref):
                subjects.insert("api:\(ref)")
            case .featureOverride(let key):
                subjects.insert("feature:\(key.feature)")
                Self.insertComponent(of: key.scope, into: &subjects)
            case .apiOverride(let key):
                subjects.insert("api:\(key.selector)")
                Self.insertComponent(of: key.scope, into: &subjects)
            case .componentBuild(let key):
                subjects.insert("component:\(key.component)")
            case .rollout:
                // A rollout is found by what it changes and where, like an override.
                for case .rollout(let rollout)? in [change.before, change.after] {
                    switch rollout.target {
                    case .feature(let name): subjects.insert("feature:\(name)")
                    case .api(let ref): subjects.insert("api:\(ref)")
                    }
                    subjects.insert("component:\(rollout.component)")
                }
            }
        }
        return subjects.sorted()
    }

    private static func insertComponent(of scope: Scope, into subjects: inout Set<String>) {
        if let component = scope.component { subjects.insert("component:\(component)") }
    }

    /// A Set's answer: what it wrote, then what was already in effect.
    ///
    /// - Parameter revision: the committed revision, or the current one when nothing was written.
    static func setResponse(_ summary: BatchSummary, revision: Revision) -> Gatehouse_V1_SetResponse {
        .with {
            $0.revision = revision.rawValue
            $0.applied = summary.changes.map(Self.describe) + summary.unchanged.map { "unchanged: \($0)" }
            $0.unchanged = summary.changes.isEmpty
        }
    }

    /// One line per changed object, for responses and the history view.
    static func describe(_ change: ObjectChange) -> String {
        let verb: String
        switch (change.before, change.after) {
        case (nil, _?): verb = "created"
        case (_?, nil): verb = "removed"
        case (_?, _?), (nil, nil): verb = "updated"
        }
        return "\(verb) \(change.key.kind) \(change.key.name)"
    }

    /// Runs a wire-to-domain mapping, turning its refusal into INVALID_ARGUMENT.
    static func mapping<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as GateError {
            throw error.rpcError
        }
    }

    /// Where catalog files are decoded and validated, one at a time: megabytes of YAML take
    /// seconds, which would otherwise hold one of the few cooperative threads every async
    /// call shares. The store's writer never waits for it; it validates the merged catalog
    /// again, in time linear in it.
    static let importQueue = DispatchQueue(label: "gatehouse.catalog-import", qos: .utility)

    /// Decodes a catalog file and checks it on its own (before the store sees it), so a
    /// refused catalog costs the writer nothing.
    static func parseCatalog(_ yaml: String) throws -> Catalog {
        let catalog: Catalog
        do {
            catalog = try YAMLDecoder().decode(Catalog.self, from: yaml)
        } catch {
            throw RPCError(.invalidArgument, "the catalog is not valid YAML for a catalog: \(error)")
        }
        try Self.mapping { try catalog.validate() }
        return catalog
    }
}
