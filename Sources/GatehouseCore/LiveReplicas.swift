/// The replicas connected right now, indexed for the version-skew guard.
///
/// A batch that names one component or one replica is checked against those
/// replicas alone: one lookup, not a pass over every connected replica, so a
/// toggle costs the same with ten thousand kubelets connected as with none.
public struct LiveReplicas: Sendable {
    /// Every live replica.
    public let all: [InstanceRef]
    /// Component → instance id → replica.
    private let byComponent: [String: [String: InstanceRef]]

    public init(_ instances: [InstanceRef]) {
        self.all = instances
        var byComponent: [String: [String: InstanceRef]] = [:]
        for instance in instances {
            byComponent[instance.component, default: [:]][instance.instanceID] = instance
        }
        self.byComponent = byComponent
    }

    public static let none = LiveReplicas([])

    public var isEmpty: Bool { self.all.isEmpty }

    /// The live replica `id` of `component`, if connected.
    public func instance(component: String, id: String) -> InstanceRef? {
        self.byComponent[component]?[id]
    }

    /// Whether any replica of `component` is connected.
    public func has(component: String) -> Bool {
        self.byComponent[component] != nil
    }

    /// The live replicas a change at any of `scopes` can affect, each once.
    func covered(by scopes: [Scope]) -> [InstanceRef] {
        if scopes.contains(.global) { return self.all }
        var components: Set<String> = []
        for case .component(let name) in scopes { components.insert(name) }
        var covered = components.flatMap { self.byComponent[$0].map { Array($0.values) } ?? [] }
        var seen: Set<InstanceRef> = []
        for case .instance(let component, let id) in scopes where !components.contains(component) {
            if let instance = self.byComponent[component]?[id], seen.insert(instance).inserted {
                covered.append(instance)
            }
        }
        return covered
    }
}
