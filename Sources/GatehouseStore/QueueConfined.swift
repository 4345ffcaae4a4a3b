import Dispatch

/// A non-Sendable value that is only ever touched on one serial queue.
///
/// SQLite connections opened with `SQLITE_OPEN_NOMUTEX` must not be used from
/// two threads; this wrapper states that rule in the type and checks it at
/// every access, so the compiler's Sendable checking and the runtime agree.
struct QueueConfined<Value>: @unchecked Sendable {
    let queue: DispatchQueue
    private let value: Value

    init(_ value: Value, on queue: DispatchQueue) {
        self.value = value
        self.queue = queue
    }

    /// The value, for code already running on `queue`.
    func withValue<Result, Failure: Error>(_ body: (Value) throws(Failure) -> Result) throws(Failure) -> Result {
        dispatchPrecondition(condition: .onQueue(self.queue))
        return try body(self.value)
    }
}
