extension GateState {
    /// Whether `component` is a name this state knows: a feature or API definition
    /// names it, a build of it has registered, or (when `countingOverrides`) an
    /// override is stored at its scope.
    ///
    /// Checked on every override write (``BatchApplier``), so it stops at the first
    /// evidence: a stored override is one lookup, the catalog scan ends at the
    /// first definition that names the component.
    public func knowsComponent(_ component: String, countingOverrides: Bool = true) -> Bool {
        if countingOverrides, self.hasOverrides(at: .component(component)) { return true }
        if self.builds.keys.contains(where: { $0.component == component }) { return true }
        if self.features.values.contains(where: { $0.value.components.contains(component) }) { return true }
        if self.apis.values.contains(where: { $0.value.components.contains(component) }) { return true }
        return self.rollouts.values.contains { $0.component == component }
    }

    /// Every component name this state knows (see ``knowsComponent(_:countingOverrides:)``), sorted:
    /// what a "did you mean" chooses from.
    public var knownComponents: [String] {
        var names: Set<String> = []
        for key in self.builds.keys { names.insert(key.component) }
        for feature in self.features.values { names.formUnion(feature.value.components) }
        for api in self.apis.values { names.formUnion(api.value.components) }
        for key in self.featureOverrides.keys { if let component = key.scope.component { names.insert(component) } }
        for key in self.apiOverrides.keys { if let component = key.scope.component { names.insert(component) } }
        return names.sorted()
    }
}
