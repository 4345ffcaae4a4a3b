/// Why Gatehouse refused something, in words a person can act on.
///
/// The codes are the subset of gRPC's canonical status codes the domain
/// needs; the server maps `code` to the wire status and `reason`/`metadata`
/// to `gatehouse.v1.ErrorDetails` in one place.
public struct GateError: Error, Hashable, Sendable {
    /// The class of refusal, named after gRPC's canonical codes.
    public enum Code: String, Hashable, Sendable, CaseIterable, Codable {
        /// The request itself is malformed (bad parameter value, bad flag syntax).
        case invalidArgument
        /// A named feature or API does not exist.
        case notFound
        /// The request is well-formed but unsafe in the current state
        /// (locked gate, unmet dependency, a replica too old).
        case failedPrecondition
        /// A conditional write lost: the state moved past the expected revision.
        case aborted
        /// Something with that identity already exists.
        case alreadyExists
        /// The caller may not do this.
        case permissionDenied
        /// A bound on what the server keeps is reached (e.g. instances per component); retry later.
        case resourceExhausted
    }

    /// One or more sentences saying what is wrong and what to do about it.
    public var message: String
    /// The stable machine-readable cause (`LOCKED_GATE` on the wire); it decides the code.
    public var reason: Reason
    /// Facts about the refusal, e.g. `["feature": "Foo", "scope": "component kubelet"]`;
    /// keys from `reason.metadataKeys`.
    public var metadata: [String: String]

    /// The class of refusal: always the reason's.
    public var code: Code { self.reason.code }

    /// The message is escaped (``ControlCharacters/escaped(_:)``): it quotes what a client sent,
    /// and is printed to terminals and logs. Only a catalog's list of problems keeps its line breaks.
    /// Metadata stays exact, for programs to compare with what they sent.
    public init(_ message: String, reason: Reason, metadata: [String: String] = [:]) {
        self.message = reason == .invalidCatalog ? ControlCharacters.escapedKeepingNewlines(message) : ControlCharacters.escaped(message)
        self.reason = reason
        self.metadata = metadata
    }
}

extension GateError: CustomStringConvertible {
    /// `failedPrecondition: cannot enable …`, for logs and test failures.
    public var description: String {
        "\(self.code.rawValue): \(self.message)"
    }
}
