/// The component's state changes, in the order they were published.
///
/// One consumer is expected. It buffers the newest `bufferSize` updates: a
/// consumer that falls further behind loses the oldest ones, never the
/// current state, which `GatehouseComponent.snapshot` always has. It finishes
/// when `run()` returns.
public struct StateUpdates: AsyncSequence, Sendable {
    public typealias Element = StateUpdate

    static let bufferSize = 256

    let base: AsyncStream<StateUpdate>

    static func make() -> (StateUpdates, AsyncStream<StateUpdate>.Continuation) {
        let (stream, continuation) = AsyncStream<StateUpdate>.makeStream(bufferingPolicy: .bufferingNewest(Self.bufferSize))
        return (StateUpdates(base: stream), continuation)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<StateUpdate>.AsyncIterator

        public mutating func next() async -> StateUpdate? {
            await self.base.next()
        }
    }
}
