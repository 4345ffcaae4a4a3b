import GatehouseCore
import PropertyBased

/// Random catalogs, instances, overrides and batches for the property tests.
///
/// Catalogs are small dependency DAGs (edges only to earlier features) with
/// some locked gates, some version-gated, some parameterised, built to be
/// valid; everything else is deliberately unconstrained so batches are
/// often refused.
enum Random {
    static let components = ["kubelet", "kube-apiserver"]

    static func element<T, R: RandomNumberGenerator>(_ items: [T], _ rng: inout R) -> T {
        items[Int.random(in: 0..<items.count, using: &rng)]
    }

    static func chance<R: RandomNumberGenerator>(_ percent: Int, _ rng: inout R) -> Bool {
        Int.random(in: 0..<100, using: &rng) < percent
    }

    static func catalog<R: RandomNumberGenerator>(_ rng: inout R) -> Catalog {
        var features: [FeatureDefinition] = []
        let count = Int.random(in: 2...7, using: &rng)
        for index in 0..<count {
            let candidates = features.filter { !($0.lockToDefault && !$0.defaultEnabled) }
            var dependencies: [String] = []
            for candidate in candidates where chance(30, &rng) {
                dependencies.append(candidate.name)
            }
            let locked = chance(20, &rng)
            let needsAllOn = dependencies.allSatisfy { name in features.first { $0.name == name }!.defaultEnabled }
            var defaultEnabled = chance(50, &rng) && needsAllOn
            if locked && !dependencies.isEmpty { defaultEnabled = needsAllOn }
            let componentSet: [String] = chance(40, &rng) ? [] : [element(components, &rng)]
            var minimum: [String: Version] = [:]
            if chance(30, &rng), componentSet.isEmpty || componentSet.contains("kubelet") {
                minimum["kubelet"] = Version(1, Int.random(in: 29...32, using: &rng))
            }
            let parameters = chance(40, &rng)
                ? [ParameterSpec(name: "n", kind: .int(default: 5, min: 0, max: 10)),
                   ParameterSpec(name: "mode", kind: .enumeration(default: "a", values: ["a", "b"]))]
                : []
            features.append(FeatureDefinition(
                name: "F\(index)",
                components: componentSet,
                stage: element(Stage.allCases, &rng),
                defaultEnabled: defaultEnabled,
                lockToDefault: locked,
                dependencies: dependencies,
                minimumVersions: minimum,
                parameters: parameters
            ))
        }
        // A locked-on feature may not need a version-gated one (catalog rule): drop such minimums.
        let lockedOnNeeds = Set(closure(of: features.filter { $0.lockToDefault && $0.defaultEnabled }.flatMap(\.dependencies), in: features))
        features = features.map { feature in
            var feature = feature
            if lockedOnNeeds.contains(feature.name) { feature.minimumVersions = [:] }
            return feature
        }
        let apis = [
            APIDefinition(APIRef(group: "batch", version: "v1"), stage: .ga),
            APIDefinition(APIRef(group: "batch", version: "v1beta1"), stage: .beta),
            APIDefinition(APIRef(group: "apps", version: "v1", resource: "deployments"), stage: .ga),
            APIDefinition(APIRef(group: "resource.k8s.io", version: "v1alpha3"), stage: .alpha, components: ["kube-apiserver"]),
            APIDefinition(APIRef(group: "extensions", version: "v1beta1"), stage: .deprecated, defaultEnabled: chance(50, &rng)),
        ]
        return Catalog(features: features, apis: apis)
    }

    static func closure(of names: [String], in features: [FeatureDefinition]) -> [String] {
        var seen: Set<String> = []
        var stack = names
        while let name = stack.popLast() {
            guard seen.insert(name).inserted, let feature = features.first(where: { $0.name == name }) else { continue }
            stack += feature.dependencies
        }
        return Array(seen)
    }

    static func instances<R: RandomNumberGenerator>(_ rng: inout R) -> [InstanceRef] {
        (0..<Int.random(in: 1...4, using: &rng)).map { index in
            InstanceRef(
                component: element(components, &rng),
                instanceID: "i\(index)",
                version: chance(85, &rng) ? Version(1, Int.random(in: 29...32, using: &rng), Int.random(in: 0...3, using: &rng)) : nil
            )
        }
    }

    static func scope<R: RandomNumberGenerator>(_ instances: [InstanceRef], _ rng: inout R) -> Scope {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return .global
        case 1: return .component(element(components, &rng))
        case 2:
            let instance = element(instances, &rng)
            return instance.scope
        default: return .instance(component: element(components, &rng), id: "gone")
        }
    }

    static let selectors: [APISelector] = [
        .all, .stage(.alpha), .stage(.beta), .stage(.ga), .stage(.deprecated),
        .groupVersion(APIGroupVersion(group: "batch", version: "v1beta1")),
        .groupVersion(APIGroupVersion(group: "apps", version: "v1")),
        .resource(APIRef(group: "apps", version: "v1", resource: "deployments")),
    ]

    static func change<R: RandomNumberGenerator>(_ catalog: Catalog, _ instances: [InstanceRef], _ rng: inout R) -> Change {
        let name = chance(5, &rng) ? "Unknown" : element(catalog.features, &rng).name
        let scope = scope(instances, &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<5:
            var parameters: [String: ParameterValue] = [:]
            if chance(25, &rng) { parameters["n"] = .int(Int64.random(in: -2...12, using: &rng)) }
            if chance(10, &rng) { parameters["mode"] = .enumValue(element(["a", "b", "c"], &rng)) }
            let enabled: Bool? = chance(85, &rng) ? Bool.random(using: &rng) : nil
            return .setFeature(name, scope: scope, enabled: enabled ?? (parameters.isEmpty ? true : nil), parameters: parameters)
        case 5..<7:
            return .clearFeature(name, scope: scope)
        case 7..<9:
            return .setAPI(element(selectors, &rng), scope: scope, enabled: Bool.random(using: &rng))
        default:
            return .clearAPI(element(selectors, &rng), scope: scope)
        }
    }

    static func batch<R: RandomNumberGenerator>(_ catalog: Catalog, _ instances: [InstanceRef], revision: Revision, _ rng: inout R) -> ChangeBatch {
        ChangeBatch(
            changes: (0..<Int.random(in: 1...3, using: &rng)).map { _ in change(catalog, instances, &rng) },
            expectedRevision: chance(15, &rng) ? Revision(UInt64.random(in: 0...revision.rawValue + 1, using: &rng)) : nil,
            reason: "property",
            actor: "prop"
        )
    }
}

/// A catalog, a fleet, a state reached by random accepted batches, and one more random batch.
struct Scenario: Sendable, CustomStringConvertible {
    var catalog: Catalog
    var instances: [InstanceRef]
    var state: GateState
    var accepted: Int
    var nextBatch: ChangeBatch

    var description: String {
        "catalog \(catalog.features.map { "\($0.name)(\($0.defaultEnabled)\($0.lockToDefault ? ",locked" : "") needs \($0.dependencies))" }), "
            + "instances \(instances.map { "\($0)@\($0.version?.description ?? "?")" }), state r\(state.revision.rawValue), next \(nextBatch.changes)"
    }

    static func make<R: RandomNumberGenerator>(_ rng: inout R) -> Scenario {
        let catalog = Random.catalog(&rng)
        let instances = Random.instances(&rng)
        let applier = BatchApplier()
        var state = try! applier.apply(.importing(catalog, actor: "admin"), to: GateState(), at: UnixMilliseconds(0), liveInstances: instances).state
        var accepted = 0
        for step in 0..<Int.random(in: 0...12, using: &rng) {
            let batch = Random.batch(catalog, instances, revision: state.revision, &rng)
            if let next = try? applier.apply(batch, to: state, at: UnixMilliseconds(Int64(step)), liveInstances: instances).state {
                state = next
                accepted += 1
            }
        }
        return Scenario(
            catalog: catalog,
            instances: instances,
            state: state,
            accepted: accepted,
            nextBatch: Random.batch(catalog, instances, revision: state.revision, &rng)
        )
    }

    static let generator = Generator<Scenario, Shrink.None<Scenario>>(run: { rng in Scenario.make(&rng) })
}

/// A tiny seeded generator for the shuffles and picks a property makes from its input.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
