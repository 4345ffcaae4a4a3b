/// The rules a catalog must satisfy before it is stored.
///
/// Checked on import and after every batch that defines or removes
/// something, so the resolver can rely on them: no duplicate names, no
/// dependency on an unknown feature, no cycle, defaults that are consistent
/// with dependencies (nothing is on by default while something it needs is
/// off by default, and no lock makes a feature impossible), and parameter
/// specs whose defaults satisfy themselves, and no dependency chain longer
/// than ``maximumDependencyChain``. Every walk is iterative and the whole
/// check near-linear in the catalog.
extension Catalog {
    /// Every problem found, one sentence each, in a stable order; empty when the catalog is sound.
    public func problems() -> [String] {
        var problems: [String] = []
        var byName: [String: FeatureDefinition] = [:]
        for feature in self.features {
            if !Names.isValidFeatureName(feature.name) {
                problems.append("feature \"\(ControlCharacters.escaped(feature.name))\": a feature name is letters, digits, '_', '-' or '.', starting with a letter")
            }
            if byName[feature.name] != nil {
                problems.append("feature \(feature.name) is defined more than once")
            }
            byName[feature.name] = feature
        }
        for feature in self.features.sorted(by: { $0.name < $1.name }) {
            problems += Self.problems(of: feature, among: byName)
        }
        let graph = DependencyGraph(byName)
        problems += graph.cycles.map { "dependency cycle: " + DependencyGraph.describe($0) }
        if graph.cycles.isEmpty {
            if graph.longestChain > Self.maximumDependencyChain {
                let chain = graph.longestChainNames
                problems.append(
                    "dependency chain too long: \(DependencyGraph.describe(chain)) is \(graph.longestChain) features long, and at most \(Self.maximumDependencyChain) may need one another in a row; depend on fewer features, or directly on the ones further down"
                )
            }
            problems += Self.lockedOnNeedingVersionGated(in: byName, graph: graph)
        }

        var seenAPIs: Set<APIRef> = []
        for api in self.apis {
            if !seenAPIs.insert(api.ref).inserted {
                problems.append("API \(api.ref) is defined more than once")
            }
            for component in api.components where !Names.isValidComponentOrInstance(component) {
                problems.append("API \(api.ref): \"\(ControlCharacters.escaped(component))\" is not a valid component name")
            }
            if let resource = api.ref.resource, !Names.isValidComponentOrInstance(resource) {
                problems.append("API \(api.ref): \"\(ControlCharacters.escaped(resource))\" is not a valid resource name")
            }
        }
        return problems
    }

    /// The most features a dependency chain may hold (`A` needs `B` needs `C` is 3).
    ///
    /// Resolution and every check walk chains; a bound keeps that work, and a
    /// refusal's explanation, small. Kubernetes' deepest real chain is 3.
    public static let maximumDependencyChain = 64

    /// How many problems a refusal's message lists; the count says how many more there are.
    public static let problemsListed = 20

    /// Throws `invalidArgument` (`INVALID_CATALOG`) listing the problems, one per line
    /// (the first ``problemsListed``, so the message fits a response whatever the catalog).
    public func validate() throws(GateError) {
        let problems = self.problems()
        guard !problems.isEmpty else { return }
        let more = problems.count > Self.problemsListed ? "\n- … and \(problems.count - Self.problemsListed) more" : ""
        throw GateError(
            "the catalog has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n- " + problems.prefix(Self.problemsListed).map(ControlCharacters.escaped).joined(separator: "\n- ") + more,
            reason: .invalidCatalog,
            metadata: ["problems": String(problems.count), "first_problem": problems[0]]
        )
    }

    private static func problems(of feature: FeatureDefinition, among byName: [String: FeatureDefinition]) -> [String] {
        var problems: [String] = []
        let name = feature.name
        for component in feature.components where !Names.isValidComponentOrInstance(component) {
            problems.append("feature \(name): \"\(ControlCharacters.escaped(component))\" is not a valid component name")
        }
        for (component, minimum) in feature.minimumVersions.sorted(by: { $0.key < $1.key }) where !feature.applies(to: component) {
            problems.append("feature \(name): a minimum version (\(minimum)) is given for \(component), which the feature does not apply to")
        }
        var parameterNames: Set<String> = []
        for parameter in feature.parameters {
            if !parameterNames.insert(parameter.name).inserted {
                problems.append("feature \(name): parameter \(parameter.name) is declared more than once")
            }
            problems += parameter.problems(feature: name)
        }
        for dependency in feature.dependencies {
            guard dependency != name else {
                problems.append("feature \(name) depends on itself")
                continue
            }
            guard let needed = byName[dependency] else {
                problems.append("feature \(name) depends on \(dependency), which is not defined")
                continue
            }
            switch (needed.lockToDefault, needed.defaultEnabled, feature.lockToDefault, feature.defaultEnabled) {
            case (true, false, true, true):
                problems.append("feature \(name) is locked on but needs \(dependency), which is locked off")
            case (true, false, _, _):
                problems.append("feature \(name) needs \(dependency), which is locked off, so \(name) could never be enabled")
            case (_, false, _, true):
                problems.append("feature \(name) is on by default but needs \(dependency), which is off by default; turn \(dependency) on by default or \(name) off")
            case (_, true, _, _), (false, false, _, false):
                break
            }
        }
        return problems
    }

    /// A locked-on feature cannot turn off on an old replica, so nothing it needs (even indirectly)
    /// may have a minimum version: older replicas would run it without its dependency.
    /// Names one such dependency per feature (the first by name), found in the graph's single walk.
    private static func lockedOnNeedingVersionGated(in byName: [String: FeatureDefinition], graph: DependencyGraph) -> [String] {
        var problems: [String] = []
        for feature in byName.values.sorted(by: { $0.name < $1.name }) where feature.lockToDefault && feature.defaultEnabled {
            if let name = graph.versionGatedNeed[feature.name] {
                problems.append("feature \(feature.name) is locked on but needs \(name), which has minimum versions; replicas older than those would run \(feature.name) without it")
            }
        }
        return problems
    }
}
