import NIOConcurrencyHelpers

/// Whether a call is over on the wire: cancelled by its client, past its
/// deadline, or its connection gone.
///
/// A method that hands work to another thread (a store's writer) checks it
/// there, before doing what no one waits for any more: a cancelled write is
/// not committed when the check comes before it. It is set on the
/// connection's event loop and read from any thread.
public final class RPCCallCancellation: Sendable {
    private let cancelled = NIOLockedValueBox(false)

    public init() {}

    /// True once the call has ended from outside the method.
    public var isCancelled: Bool {
        self.cancelled.withLockedValue { $0 }
    }

    /// Marks the call ended. The connection calls it; later calls do nothing.
    public func cancel() {
        self.cancelled.withLockedValue { $0 = true }
    }
}
