/// An error a state handler throws to reject an update with its own reason.
///
/// The SDK turns any error from the handler into a NACK, so the server (and
/// `gatectl components`) shows that this instance kept its previous state.
/// Errors of this type choose the machine-readable reason and name the
/// entries at fault; any other error is reported as `HANDLER_FAILED`.
public protocol UpdateRejection: Error {
    /// A stable reason in UPPER_SNAKE_CASE, e.g. `UNSUPPORTED_PARAMETER`.
    var reason: String { get }
    /// Feature names (or `group/version[/resource]`) at fault; may be empty.
    var entries: [String] { get }
    /// A message for people.
    var message: String { get }
}

extension UpdateRejection {
    public var entries: [String] { [] }
    public var message: String { String(describing: self) }
}
