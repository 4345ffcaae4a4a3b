import GatehouseCore
import Logging

/// Escapes control characters in every message and metadata value before another handler writes it.
///
/// Log lines quote what clients sent: method paths, component and instance
/// names, certificate subjects, error messages that repeat a request's text.
/// A newline in any of them forged whole log lines (and an escape sequence
/// reached whoever tails the log), so the server's handler escapes at the
/// one place every line passes through, rather than at each call site: `\n`
/// becomes `\\n`, an ESC `\u{1B}` (see `ControlCharacters.escaped`).
/// Metadata set on the handler itself (a connection's `peer.cn`) is escaped
/// when it is set.
public struct EscapingLogHandler: LogHandler {
    private var wrapped: any LogHandler

    public init(_ wrapped: any LogHandler) {
        self.wrapped = wrapped
        self.wrapped.metadata = Self.escaped(wrapped.metadata)
    }

    public var logLevel: Logger.Level {
        get { self.wrapped.logLevel }
        set { self.wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { self.wrapped.metadata }
        set { self.wrapped.metadata = Self.escaped(newValue) }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { self.wrapped.metadataProvider }
        set { self.wrapped.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.wrapped[metadataKey: key] }
        set { self.wrapped[metadataKey: key] = newValue.map(Self.escaped) }
    }

    public func log(event: LogEvent) {
        var event = event
        let text = event.message.description
        if ControlCharacters.occur(in: text) {
            event.message = Logger.Message(stringLiteral: ControlCharacters.escaped(text))
        }
        if let metadata = event.metadata {
            event.metadata = Self.escaped(metadata)
        }
        self.wrapped.log(event: event)
    }

    static func escaped(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.mapValues(Self.escaped)
    }

    static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text):
            return ControlCharacters.occur(in: text) ? .string(ControlCharacters.escaped(text)) : value
        case .stringConvertible(let convertible):
            let text = convertible.description
            return ControlCharacters.occur(in: text) ? .string(ControlCharacters.escaped(text)) : value
        case .dictionary(let dictionary):
            return .dictionary(Self.escaped(dictionary))
        case .array(let array):
            return .array(array.map(Self.escaped))
        }
    }
}
