import Foundation
import GatehouseProto
import Synchronization

/// What the server asks a replica to get ready for in a two-phase API
/// activation (PROTOCOL.md 3.8): the APIs that will change and the state
/// they will have. Nothing has changed yet; a Delta will carry the change
/// once every replica said ready.
public struct PrepareRequest: Sendable, Hashable {
    /// Identifies the Prepare; a later cancel names it.
    public var id: String
    /// The APIs and the state they will have once committed.
    public var apis: [PreparedAPI]
    /// When the server needs the answer (its clock); the handler is cut off before it.
    public var deadline: Date

    public init(id: String, apis: [PreparedAPI], deadline: Date) {
        self.id = id
        self.apis = apis
        self.deadline = deadline
    }
}

/// One API as it will be after the prepared change.
public struct PreparedAPI: Sendable, Hashable {
    /// `group/version[/resource]`, e.g. `batch/v1beta1`.
    public var api: String
    /// Whether it will be served.
    public var enabled: Bool

    public init(api: String, enabled: Bool) {
        self.api = api
        self.enabled = enabled
    }
}

/// A replica's answer to a Prepare.
public enum PrepareAnswer: Sendable, Hashable {
    /// It can serve the new state as soon as the change arrives.
    case ready
    /// It cannot; the change must not be made anywhere. The message is shown to the operator.
    case notReady(String)
}

/// The application's part in two-phase activation, set with `onPrepare`.
struct PrepareHandlers: Sendable {
    var check: (@Sendable (PrepareRequest) async throws -> PrepareAnswer)?
    var cancelled: (@Sendable (_ id: String, _ reason: String) async -> Void)?
    var timeout: Duration = .seconds(20)
}

extension GatehouseComponent {
    /// Sets the check that answers the server's Prepare in a two-phase API activation.
    ///
    /// Before an API is switched on (or off) for every replica of a component at
    /// once, each replica is asked whether it can serve the new state (storage
    /// for the API ready, caches warmed). `check` returns `.ready`, or
    /// `.notReady(message)`; a thrown error is not ready, with the error as the
    /// message. It must not apply the change: the Delta that follows does. It
    /// is cut off after `timeout`, or shortly before the server's deadline if
    /// that comes first, and the answer is then not ready. Without a handler
    /// the SDK answers not ready ("no prepare handler"), so an activation never
    /// counts on a replica that did not look.
    ///
    /// - Parameters:
    ///   - cancelled: told when the server calls the change off (another
    ///     replica refused, or the deadline passed): release what `check` readied.
    public func onPrepare(
        timeout: Duration = .seconds(20),
        _ check: @escaping @Sendable (PrepareRequest) async throws -> PrepareAnswer,
        cancelled: (@Sendable (_ id: String, _ reason: String) async -> Void)? = nil
    ) {
        self.prepareHandlers.withLock { $0 = PrepareHandlers(check: check, cancelled: cancelled, timeout: timeout) }
    }

    /// The PrepareAck for `prepare`: the application's check, bounded in time.
    func answer(_ prepare: Gatehouse_V1_Prepare, now: Date = Date()) async -> Gatehouse_V1_PrepareAck {
        let handlers = self.prepareHandlers.withLock { $0 }
        guard let check = handlers.check else {
            return Self.prepareAck(prepare.id, .notReady("no prepare handler"), reason: "NO_PREPARE_HANDLER")
        }
        let deadline = Date(timeIntervalSince1970: Double(prepare.deadlineUnixMs) / 1000)
        let budget = Self.prepareBudget(until: deadline, now: now, limit: handlers.timeout)
        guard budget > .zero else {
            return Self.prepareAck(prepare.id, .notReady("the Prepare arrived too close to its deadline to check"), reason: "PREPARE_DEADLINE")
        }
        let request = PrepareRequest(
            id: prepare.id,
            apis: prepare.apis.map { PreparedAPI(api: Self.apiText($0.api), enabled: $0.enabled) },
            deadline: deadline
        )
        let answer = await Self.firstOf(budget: budget) {
            do {
                return try await check(request)
            } catch {
                return .notReady("\(error)")
            }
        }
        guard let answer else {
            return Self.prepareAck(prepare.id, .notReady("the prepare handler did not answer within \(budget)"), reason: "PREPARE_HANDLER_TIMEOUT")
        }
        return Self.prepareAck(prepare.id, answer, reason: "NOT_READY")
    }

    /// Tells the application a Prepare is off.
    func prepareCancelled(_ cancel: Gatehouse_V1_PrepareCancel) async {
        let cancelled = self.prepareHandlers.withLock { $0.cancelled }
        await cancelled?(cancel.id, cancel.reason)
    }

    /// How long the check may take: its own timeout, and never past the
    /// server's deadline less a margin for the answer to travel (a tenth of
    /// what is left, between 50 ms and 1 s).
    static func prepareBudget(until deadline: Date, now: Date, limit: Duration) -> Duration {
        let left = deadline.timeIntervalSince(now)
        let margin = min(max(left / 10, 0.05), 1)
        let usable = Duration.milliseconds(Int64(((left - margin) * 1000).rounded(.down)))
        return min(limit, usable)
    }

    static func prepareAck(_ id: String, _ answer: PrepareAnswer, reason: String) -> Gatehouse_V1_PrepareAck {
        .with { ack in
            ack.id = id
            switch answer {
            case .ready:
                ack.ready = true
            case .notReady(let message):
                ack.ready = false
                ack.error = .with {
                    $0.reason = reason
                    $0.message = message
                }
            }
        }
    }

    static func apiText(_ ref: Gatehouse_V1_ApiRef) -> String {
        let groupVersion = ref.group.isEmpty ? ref.version : "\(ref.group)/\(ref.version)"
        return ref.resource.isEmpty ? groupVersion : "\(groupVersion)/\(ref.resource)"
    }

    /// The body's result, or nil when `budget` passes first. The body is
    /// cancelled then, but not waited for: a check that ignores cancellation
    /// cannot hold the answer back.
    static func firstOf(budget: Duration, _ body: @escaping @Sendable () async -> PrepareAnswer) async -> PrepareAnswer? {
        let race = PrepareRace()
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<PrepareAnswer?, Never>) in
            race.start(
                continuation,
                Task { race.finish(await body()) },
                Task {
                    guard (try? await Task.sleep(for: budget)) != nil else { return }
                    race.finish(nil)
                }
            )
        }
        race.cancelAll()
        return result
    }
}

/// The check and its timer, racing: the first to finish answers, once.
private final class PrepareRace: Sendable {
    private struct State {
        var continuation: CheckedContinuation<PrepareAnswer?, Never>?
        var early: PrepareAnswer??
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<PrepareAnswer?, Never>, _ tasks: Task<Void, Never>...) {
        let early = self.state.withLock { state -> PrepareAnswer?? in
            state.tasks = tasks
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    func finish(_ answer: PrepareAnswer?) {
        let continuation = self.state.withLock { state -> CheckedContinuation<PrepareAnswer?, Never>? in
            if state.early != nil { return nil }
            state.early = .some(answer)
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: answer)
    }

    func cancelAll() {
        for task in self.state.withLock({ $0.tasks }) { task.cancel() }
    }
}

/// A subscription's Prepares in flight: each answered on its own task, so
/// pushes and heartbeats keep flowing while the application checks.
final class PrepareResponder: Sendable {
    private let component: GatehouseComponent
    private let send: @Sendable (Gatehouse_V1_PrepareAck) async throws -> Void
    private let inFlight = Mutex<[String: Task<Void, Never>]>([:])

    init(component: GatehouseComponent, send: @escaping @Sendable (Gatehouse_V1_PrepareAck) async throws -> Void) {
        self.component = component
        self.send = send
    }

    /// Answers `prepare` (exactly once, unless it is cancelled first or the stream ends).
    func prepare(_ prepare: Gatehouse_V1_Prepare) {
        let id = prepare.id
        let task = Task {
            let ack = await self.component.answer(prepare)
            guard !Task.isCancelled else { return }
            try? await self.send(ack)
            _ = self.inFlight.withLock { $0.removeValue(forKey: id) }
        }
        self.inFlight.withLock { $0[id] = task }
    }

    /// The server called `cancel.id` off: stop checking it, and tell the application.
    func cancel(_ cancel: Gatehouse_V1_PrepareCancel) async {
        self.inFlight.withLock { $0.removeValue(forKey: cancel.id) }?.cancel()
        await self.component.prepareCancelled(cancel)
    }

    /// The subscription ended: answers to its Prepares have nowhere to go.
    func stopAll() {
        for task in self.inFlight.withLock({ $0.values }) { task.cancel() }
    }
}
