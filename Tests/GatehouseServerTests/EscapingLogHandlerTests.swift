import Logging
import NIOConcurrencyHelpers
import Testing

@testable import GatehouseServer

/// Log lines quote client text; a newline or escape in it must not forge a line or reach a terminal.
@Suite struct EscapingLogHandlerTests {
    /// Keeps what it is asked to write.
    final class Capture: Sendable {
        let events = NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>([])
    }

    struct CapturingHandler: LogHandler {
        let capture: Capture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.capture.events.withLockedValue { $0.append((event.message.description, merged)) }
        }
    }

    @Test func messagesAndMetadataAreEscaped() {
        let capture = Capture()
        var logger = Logger(label: "test") { _ in EscapingLogHandler(CapturingHandler(capture: capture)) }
        logger[metadataKey: "peer.cn"] = "evil\n2026-12-05T00:00:00 info: admin logged in"
        let forged = "kubelet\r\n\u{1B}[2J"
        logger.info(
            "call failed: unknown feature \(forged)",
            metadata: [
                "component": "\(forged)",
                "nested": .dictionary(["a": .array([.string("x\u{202E}y")])]),
                "plain": "kube-apiserver",
            ]
        )
        let events = capture.events.withLockedValue { $0 }
        #expect(events.count == 1)
        guard let event = events.first else { return }
        #expect(event.message == "call failed: unknown feature kubelet\\r\\n\\u{1B}[2J")
        #expect(event.metadata["component"]?.description == "kubelet\\r\\n\\u{1B}[2J")
        #expect(event.metadata["peer.cn"]?.description == "evil\\n2026-12-05T00:00:00 info: admin logged in")
        guard case .dictionary(let nested)? = event.metadata["nested"], case .array(let items)? = nested["a"] else {
            Issue.record("nested metadata lost its shape")
            return
        }
        #expect(items.map(\.description) == ["x\\u{202E}y"])
        #expect(event.metadata["plain"]?.description == "kube-apiserver")
    }
}
