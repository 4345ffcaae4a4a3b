/// Which resolutions a committed batch can have changed, from the scopes it wrote.
///
/// An override decides only for what its scope covers, and a feature's
/// dependencies are resolved at the same point, so a batch of overrides at
/// one instance cannot change what any other instance resolves to. A
/// catalog change (a feature or API defined or removed) can change anything.
/// A recorded component build changes nothing: resolution ignores it.
/// A rollout record changes what its component's canaries resolve to, so
/// it reaches that component (which instances exactly is the fan-out's
/// business: it knows their labels and buckets).
public struct BatchReach: Hashable, Sendable {
    /// True when every resolution may have changed (the catalog or a global override).
    public private(set) var everything = false
    /// Components with a component-scope change: all their instances may have changed.
    public private(set) var components: Set<String> = []
    /// Instances with an instance-scope change, by component and id.
    public private(set) var instances: Set<Scope> = []

    public init(_ summary: BatchSummary) {
        for change in summary.changes {
            switch change.key {
            case .feature, .api:
                self.everything = true
            case .featureOverride(let key):
                self.add(key.scope)
            case .apiOverride(let key):
                self.add(key.scope)
            case .componentBuild:
                break
            case .rollout:
                for case .rollout(let rollout)? in [change.before, change.after] {
                    self.components.insert(rollout.component)
                }
            }
        }
    }

    /// Whether the resolution of `instanceID` of `component` may have changed;
    /// an empty `instanceID` stands for any instance without overrides of its own.
    public func affects(component: String, instanceID: String) -> Bool {
        if self.everything || self.components.contains(component) { return true }
        return !instanceID.isEmpty && self.instances.contains(.instance(component: component, id: instanceID))
    }

    private mutating func add(_ scope: Scope) {
        switch scope {
        case .global: self.everything = true
        case .component(let name): self.components.insert(name)
        case .instance: self.instances.insert(scope)
        }
    }
}
