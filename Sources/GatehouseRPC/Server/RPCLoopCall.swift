import NIOCore

/// Writes one stream's MESSAGE frames from the connection's own event loop.
///
/// For servers that push the same message to thousands of calls: one
/// `execute` per event loop delivers to all of them, where an async writer
/// would wake one task and hop threads twice per call. The future completes
/// once the frame is handed to the socket, or fails (CANCELLED) once the call
/// has ended.
public struct RPCLoopWriter: Sendable {
    public let eventLoop: any EventLoop
    private let send: @Sendable (ByteBuffer) -> EventLoopFuture<Void>

    public init(eventLoop: any EventLoop, write: @escaping @Sendable (ByteBuffer) -> EventLoopFuture<Void>) {
        self.eventLoop = eventLoop
        self.send = write
    }

    /// Must be called on `eventLoop`.
    public func write(_ message: ByteBuffer) -> EventLoopFuture<Void> {
        self.eventLoop.preconditionInEventLoop()
        return self.send(message)
    }
}

/// A server-streaming call driven on its connection's event loop, with no task.
///
/// For calls that live long and mostly idle, such as subscriptions: a task
/// would keep its stack, its context and a reader of client messages alive
/// for as long as the call is open, several KiB per call. Instead the method
/// sets itself up synchronously on the loop and returns ``Handlers``: the
/// connection calls them with each client message and when the call ends
/// from outside. The method ends the call itself with ``finish(_:)``.
///
/// Confined to `writer.eventLoop` (checked), hence `@unchecked Sendable`.
public final class RPCLoopCall: @unchecked Sendable {
    /// What the connection tells the method.
    public struct Handlers {
        /// A client message arrived (a subscriber's ack). An error thrown ends the call with its status.
        public var message: (ByteBuffer) throws -> Void
        /// The call is over, for this reason: the method cleans up and calls
        /// ``RPCLoopCall/finish(_:)``. Either a client message was refused
        /// (`finish` sends the TRAILERS), or the connection ended the call:
        /// cancelled by the client, past its deadline, closed or drained
        /// (nothing more can be sent, and `finish` does nothing).
        public var ended: (RPCError) -> Void

        public init(message: @escaping (ByteBuffer) throws -> Void, ended: @escaping (RPCError) -> Void) {
            self.message = message
            self.ended = ended
        }
    }

    public let context: RPCServerContext
    public let writer: RPCLoopWriter
    private let end: (RPCStatus) -> Void
    private var handlers: Handlers?
    private var isEnded = false

    init(context: RPCServerContext, writer: RPCLoopWriter, end: @escaping (RPCStatus) -> Void) {
        self.context = context
        self.writer = writer
        self.end = end
    }

    public var eventLoop: any EventLoop { self.writer.eventLoop }

    /// Ends the call: TRAILERS with OK, or with `error`'s status. Later calls do nothing.
    public func finish(_ error: RPCError?) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.isEnded else { return }
        self.isEnded = true
        self.handlers = nil
        self.end(error?.status ?? .ok)
    }

    // MARK: - For the connection

    /// Runs the method; a method that throws ends the call with the error's status.
    func start(_ method: RPCMethod.LoopStreaming, request: ByteBuffer) {
        do {
            let handlers = try method(request, self)
            if !self.isEnded { self.handlers = handlers }
        } catch {
            self.finish(RPCError(error, in: self.context))
        }
    }

    func received(_ message: ByteBuffer) {
        guard let handlers = self.handlers else { return }
        do {
            try handlers.message(message)
        } catch {
            let reason = RPCError(error, in: self.context)
            handlers.ended(reason)
            self.finish(reason)  // in case the method did not
        }
    }

    /// The connection ended the call (it sent or will send TRAILERS itself, or cannot).
    func endedByConnection(_ reason: RPCError) {
        guard !self.isEnded else { return }
        self.isEnded = true
        let handlers = self.handlers
        self.handlers = nil
        handlers?.ended(reason)
    }
}

extension RPCError {
    /// The error a method's failure ends its call with; anything but an `RPCError` is an internal error, logged.
    init(_ error: any Error, in context: RPCServerContext) {
        switch error {
        case let error as RPCError:
            self = error
        case is CancellationError:
            self = RPCError(.cancelled, "the call was cancelled")
        default:
            context.logger.error("method failed", metadata: ["error": "\(error)"])
            self = RPCError(.internal, "internal error")
        }
    }
}
