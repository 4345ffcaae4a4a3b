/// Where an override applies: everywhere, one component, or one instance of it.
///
/// Narrower scopes win: instance > component > global. Encoded as a string
/// (`global`, `component/kubelet`, `instance/kubelet/node-17`) so it can serve
/// as part of a store key and reads well in JSON.
public enum Scope: Hashable, Sendable {
    case global
    case component(String)
    case instance(component: String, id: String)

    /// The component the scope is limited to, if any.
    public var component: String? {
        switch self {
        case .global: nil
        case .component(let name): name
        case .instance(let component, _): component
        }
    }

    /// Whether this scope covers an instance of `component` with id `instanceID`.
    public func covers(component: String, instanceID: String) -> Bool {
        switch self {
        case .global: true
        case .component(let name): name == component
        case .instance(let name, let id): name == component && id == instanceID
        }
    }

    /// Parses the encoded form: `global`, `component/<name>`, `instance/<component>/<id>`.
    public init(parsing text: String) throws(GateError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("global", 1):
            self = .global
        case ("component", 2) where Names.isValidComponentOrInstance(parts[1]):
            self = .component(parts[1])
        case ("instance", 3) where Names.isValidComponentOrInstance(parts[1]) && Names.isValidComponentOrInstance(parts[2]):
            self = .instance(component: parts[1], id: parts[2])
        default:
            throw GateError(
                "invalid scope \"\(text)\": expected global, component/<name> or instance/<component>/<id>",
                reason: .invalidScope,
                metadata: ["scope": text]
            )
        }
    }

    /// The encoded form: `global`, `component/kubelet`, `instance/kubelet/node-17`.
    public var key: String {
        switch self {
        case .global: "global"
        case .component(let name): "component/\(name)"
        case .instance(let component, let id): "instance/\(component)/\(id)"
        }
    }
}

extension Scope: CustomStringConvertible {
    /// For people: `global`, `component kubelet`, `instance kubelet/node-17`.
    public var description: String {
        switch self {
        case .global: "global"
        case .component(let name): "component \(name)"
        case .instance(let component, let id): "instance \(component)/\(id)"
        }
    }
}

extension Scope: TextCodable {
    public var text: String { self.key }
}
