import NIOCore

// libFuzzer target: the frame parser and the server's connection state machine,
// compiled from their sources (Tests/Fuzz/run.sh) into a module of their own.
//
// The first input octet is a control octet; the rest is what a client sends
// after the TLS handshake. The control octet picks how the bytes are split
// into reads (the parser must give the same frames however they arrive) and
// which local events are mixed in (calls returning, deadlines firing, a
// drain). Besides "never crash", it checks two properties:
// - reading in pieces yields the same frames and the same error as reading at once;
// - every parsed frame encodes to octets that parse back to the same frame.

/// The methods the fuzzed connection serves: one of each kind the state machine tells apart.
private let methods: [String: RPCMethodDescriptor] = [
    "/gatehouse.v1.Health/Check": RPCMethodDescriptor(path: "/gatehouse.v1.Health/Check", kind: .unary, requestType: "a", responseType: "b"),
    "/gatehouse.v1.Health/Watch": RPCMethodDescriptor(path: "/gatehouse.v1.Health/Watch", kind: .serverStreaming, requestType: "a", responseType: "b"),
    "/gatehouse.v1.Components/Subscribe": RPCMethodDescriptor(
        path: "/gatehouse.v1.Components/Subscribe", kind: .serverStreaming, requestType: "a", responseType: "b", acceptsClientMessages: true
    ),
]

private struct Control {
    /// Octets per read; 0 means the whole input in one read.
    var readSize: Int
    var finishCallsAtOnce: Bool
    var drainHalfway: Bool
    var expireDeadlines: Bool
    var smallMaxFrameSize: Bool

    init(_ octet: UInt8) {
        let sizes = [0, 1, 2, 3, 5, 7, 10, 11, 13, 16, 64, 100, 512, 1024, 4096, 0]
        self.readSize = sizes[Int(octet & 0x0F)]
        self.finishCallsAtOnce = octet & 0x10 != 0
        self.drainHalfway = octet & 0x20 != 0
        self.expireDeadlines = octet & 0x40 != 0
        self.smallMaxFrameSize = octet & 0x80 != 0
    }
}

/// Parses `input` as the server's connection handler does: reads of `readSize`
/// octets, the unparsed rest kept for the next read.
private func parse(_ input: ByteBuffer, readSize: Int, maxFrameSize: UInt32) -> (frames: [Frame], error: FrameError?, leftover: Int) {
    var parser = FrameParser(maxFrameSize: maxFrameSize)
    var frames: [Frame] = []
    var received: ByteBuffer?
    var input = input
    while input.readableBytes > 0 {
        var bytes = input.readSlice(length: readSize == 0 ? input.readableBytes : min(readSize, input.readableBytes))!
        if var earlier = received {
            received = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        do {
            while let frame = try parser.nextFrame(from: &bytes) { frames.append(frame) }
        } catch {
            return (frames, error, 0)
        }
        if bytes.readableBytes > 0 {
            bytes.discardReadBytes()
            received = bytes
        }
    }
    // The octets of a frame that never completed: the parser holds its header, `received` the rest.
    return (frames, nil, (received?.readableBytes ?? 0) + (parser.isMidFrame ? 1 : 0))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = Control(data[0])
    let input = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 1, count: size - 1))
    let maxFrameSize: UInt32 = control.smallMaxFrameSize ? 16_384 : 1_048_576

    let whole = parse(input, readSize: 0, maxFrameSize: maxFrameSize)
    let pieces = parse(input, readSize: control.readSize, maxFrameSize: maxFrameSize)
    precondition(whole.frames == pieces.frames, "frames differ when read in pieces of \(control.readSize)")
    precondition(whole.error == pieces.error, "errors differ when read in pieces of \(control.readSize): \(String(describing: whole.error)) vs \(String(describing: pieces.error))")
    precondition((whole.leftover == 0) == (pieces.leftover == 0), "a frame is incomplete in one reading only")

    for frame in whole.frames {
        var encoded = ByteBuffer()
        frame.encode(into: &encoded)
        var parser = FrameParser(maxFrameSize: 16_777_215)
        let again: Frame?
        do {
            again = try parser.nextFrame(from: &encoded)
        } catch {
            preconditionFailure("\(frame) encodes to octets that do not parse: \(error)")
        }
        precondition(again == frame, "\(frame) parses back as \(String(describing: again))")
        precondition(encoded.readableBytes == 0, "\(frame) encodes to more than one frame")
    }

    var machine = ServerConnectionStateMachine(
        configuration: .init(
            supportedVersions: [1],
            settings: [Frame.Setting(.maxFrameSize, maxFrameSize), Frame.Setting(.maxConcurrentStreams, 4)],
            maxConcurrentStreams: 4,
            methods: methods
        )
    )
    var running: [StreamID] = []
    var armed: [StreamID] = []
    // Calls ended from outside their method (CANCEL, deadline, draining): their method still returns later.
    var stopped: Set<StreamID> = []
    func perform(_ action: ServerConnectionStateMachine.Action) {
        switch action {
        case .startCall(let headers, _, _, _):
            running.append(headers.streamID)
        case .openCall(let headers, _):
            if headers.timeoutMilliseconds > 0 { armed.append(headers.streamID) }
        case .cancelCall(let streamID, _, _):
            stopped.insert(streamID)
        case .endCall(let trailers, _):
            stopped.insert(trailers.streamID)
        case .none, .send, .refuseCall, .deliverClientMessage, .closeWithGoAway, .close:
            break
        }
    }
    for (index, frame) in whole.frames.enumerated() {
        perform(machine.frameReceived(frame))
        if control.finishCallsAtOnce, let streamID = running.popLast() {
            precondition(machine.isRunning(streamID) || machine.isClosed || stopped.contains(streamID), "a started call \(streamID) is not running")
            perform(machine.callFinished(streamID, status: index % 2 == 0 ? .ok : RPCStatus(code: .internal, message: "x")))
        }
        if control.expireDeadlines, let streamID = armed.popLast() {
            perform(machine.deadlineExpired(streamID))
        }
        if control.drainHalfway, index == whole.frames.count / 2 {
            let (_, streamsToEnd, _) = machine.beginDraining()
            for streamID in streamsToEnd {
                perform(machine.callFinished(streamID, status: RPCStatus(code: .unavailable, message: "draining")))
            }
        }
    }
    if let error = whole.error {
        perform(machine.connectionError(error.code, error.reason))
        precondition(machine.isClosed, "a connection error left the connection open")
        precondition(!machine.hasOpenStreams, "a closed connection has open streams")
    }
    for streamID in running {
        perform(machine.callFinished(streamID, status: .ok))  // calls that return after the fact
    }
    _ = machine.channelClosed()
    precondition(!machine.hasOpenStreams, "streams open after the channel closed")
    return 0
}
