/// One running replica of a component: what resolution is computed for.
///
/// The version is optional because a scope-level explanation has none and an
/// instance may not have reported one; without it the skew rules are skipped.
public struct InstanceRef: Hashable, Sendable, Codable {
    /// The component, e.g. `kubelet`.
    public var component: String
    /// The instance id as registered, e.g. `node-17`.
    public var instanceID: String
    public var version: Version?

    public init(component: String, instanceID: String, version: Version?) {
        self.component = component
        self.instanceID = instanceID
        self.version = version
    }

    /// The instance's own scope.
    public var scope: Scope { .instance(component: self.component, id: self.instanceID) }

    private enum CodingKeys: String, CodingKey {
        case component
        case instanceID = "instance_id"
        case version
    }
}

extension InstanceRef: CustomStringConvertible {
    /// `kubelet/node-17`.
    public var description: String { "\(self.component)/\(self.instanceID)" }
}

extension InstanceRef {
    /// An instance named by a client, checked: non-empty names without `/`, `=`,
    /// `,` or whitespace, and a semantic version when one is given.
    public init(validating component: String, instanceID: String, version: String) throws(GateError) {
        guard Names.isValidComponentOrInstance(component) else {
            throw GateError("component \"\(ControlCharacters.escaped(component))\" is not a valid name: use e.g. kube-apiserver (\(Names.componentOrInstanceRule))", reason: .invalidName)
        }
        guard Names.isValidComponentOrInstance(instanceID) else {
            throw GateError("instance id \"\(ControlCharacters.escaped(instanceID))\" is not a valid name: use e.g. node-17 (\(Names.componentOrInstanceRule))", reason: .invalidName)
        }
        self.init(component: component, instanceID: instanceID, version: version.isEmpty ? nil : try Version(parsing: version))
    }
}
