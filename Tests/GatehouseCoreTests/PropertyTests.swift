import GatehouseCore
import PropertyBased
import Testing

@Suite("Properties")
struct PropertyTests {
    /// An independent, naive model of feature resolution to compare the resolver against.
    static func modelEnabled(_ name: String, state: GateState, instance: InstanceRef) -> Bool {
        guard let feature = state.feature(name) else { return false }
        if feature.lockToDefault { return feature.defaultEnabled }
        let scopes: [Scope] = [instance.scope, .component(instance.component), .global]
        let raw = scopes.lazy.compactMap { state.featureOverrides[FeatureOverrideKey(feature: name, scope: $0)]?.enabled }.first
            ?? feature.defaultEnabled
        guard raw else { return false }
        if let minimum = feature.minimumVersions[instance.component], let version = instance.version, version < minimum { return false }
        return feature.dependencies.allSatisfy { modelEnabled($0, state: state, instance: instance) }
    }

    @Test func precedenceInstanceOverComponentOverGlobalOverDefault() async {
        // Arbitrary overrides, written straight into a state (no applier checks), against the model.
        await propertyCheck(count: 300, input: Scenario.generator) { scenario in
            var rng = SplitMix64(seed: scenario.state.revision.rawValue &+ UInt64(scenario.catalog.features.count))
            var overrides: [FeatureOverride] = []
            for feature in scenario.catalog.features {
                for scope in [Scope.global, .component("kubelet"), .component("kube-apiserver")] + scenario.instances.map(\.scope)
                where Random.chance(40, &rng) {
                    let stamp = ChangeStamp(revision: 1, actor: "p", reason: "", time: UnixMilliseconds(0))
                    overrides.append(FeatureOverride(feature: feature.name, scope: scope, enabled: Random.chance(80, &rng) ? Bool.random(using: &rng) : nil, stamp: stamp))
                }
            }
            let state = GateState(
                revision: 1,
                features: scenario.catalog.features.map { Revisioned($0, revision: 1) },
                apis: scenario.catalog.apis.map { Revisioned($0, revision: 1) },
                featureOverrides: overrides,
                apiOverrides: []
            )
            let resolver = Resolver(state: state)
            for instance in scenario.instances {
                let resolved = resolver.resolve(instance)
                for feature in scenario.catalog.features where feature.applies(to: instance.component) {
                    let got = resolved.features[feature.name]!
                    #expect(got.enabled == Self.modelEnabled(feature.name, state: state, instance: instance), "\(feature.name) on \(instance)")
                    if case .override(let scope, _) = got.reason {
                        // The deciding override is the narrowest one with a value.
                        let narrower = [instance.scope, .component(instance.component), .global].prefix { $0 != scope }
                        #expect(narrower.allSatisfy { state.featureOverrides[FeatureOverrideKey(feature: feature.name, scope: $0)]?.enabled == nil })
                        #expect(state.featureOverrides[FeatureOverrideKey(feature: feature.name, scope: scope)]?.enabled != nil)
                    }
                }
            }
        }
    }

    @Test func lockedFeaturesNeverChange() async {
        await propertyCheck(count: 200, input: Scenario.generator) { scenario in
            guard let next = try? BatchApplier().apply(scenario.nextBatch, to: scenario.state, at: UnixMilliseconds(99), liveInstances: scenario.instances).state
            else { return }
            for instance in scenario.instances {
                let resolved = Resolver(state: next).resolve(instance)
                for feature in scenario.catalog.features where feature.lockToDefault && feature.applies(to: instance.component) {
                    #expect(resolved.features[feature.name] == ResolvedFeature(name: feature.name, enabled: feature.defaultEnabled, reason: .locked,
                                                                                parameters: resolved.features[feature.name]!.parameters,
                                                                                parameterReasons: resolved.features[feature.name]!.parameterReasons))
                }
            }
            for override in next.featureOverrides.values {
                if let feature = next.feature(override.feature), feature.lockToDefault, let enabled = override.enabled {
                    #expect(enabled == feature.defaultEnabled, "a stored override contradicts lock of \(feature.name)")
                }
            }
        }
    }

    @Test func enabledFeaturesHaveTheirDependenciesEverywhere() async {
        await propertyCheck(count: 300, input: Scenario.generator) { scenario in
            var states = [scenario.state]
            if let next = try? BatchApplier().apply(scenario.nextBatch, to: scenario.state, at: UnixMilliseconds(99), liveInstances: scenario.instances).state {
                states.append(next)
            }
            for state in states {
                let resolver = Resolver(state: state)
                for instance in scenario.instances {
                    for feature in resolver.resolve(instance).features.values where feature.enabled {
                        for dependency in state.feature(feature.name)!.dependencies {
                            #expect(resolver.resolveFeature(dependency, for: instance)?.enabled == true,
                                    "\(feature.name) is on at \(instance) but \(dependency) is off")
                        }
                    }
                }
            }
        }
    }

    @Test func resolutionIsDeterministicAndIndependentOfOrder() async {
        await propertyCheck(count: 200, input: Scenario.generator) { scenario in
            let state = scenario.state
            var rng = SplitMix64(seed: state.revision.rawValue)
            let rebuilt = GateState(
                revision: state.revision,
                features: state.features.values.shuffled(using: &rng),
                apis: state.apis.values.shuffled(using: &rng),
                featureOverrides: state.featureOverrides.values.shuffled(using: &rng),
                apiOverrides: state.apiOverrides.values.shuffled(using: &rng)
            )
            #expect(rebuilt == state)
            for instance in scenario.instances {
                let first = Resolver(state: state).resolve(instance)
                #expect(Resolver(state: rebuilt).resolve(instance) == first)
                #expect(Resolver(state: state).resolve(instance) == first)
            }
            // The same catalog imported in another order resolves the same.
            let shuffled = Catalog(features: scenario.catalog.features.shuffled(using: &rng), apis: scenario.catalog.apis.shuffled(using: &rng))
            let a = try! BatchApplier().apply(.importing(scenario.catalog, actor: "x"), to: GateState(), at: UnixMilliseconds(0), liveInstances: []).state
            let b = try! BatchApplier().apply(.importing(shuffled, actor: "x"), to: GateState(), at: UnixMilliseconds(0), liveInstances: []).state
            #expect(a == b)
        }
    }

    @Test func refusedBatchLeavesStateUnchangedAndAcceptedOnesAddOneRevision() async {
        await propertyCheck(count: 300, input: Scenario.generator) { scenario in
            // Every accepted batch while building the scenario added exactly one (the import is revision 1).
            #expect(scenario.state.revision.rawValue == UInt64(1 + scenario.accepted))
            let before = scenario.state
            let copy = before
            do throws(GateError) {
                let applied = try BatchApplier().apply(scenario.nextBatch, to: before, at: UnixMilliseconds(99), liveInstances: scenario.instances)
                #expect(applied.state.revision == before.revision.next)
                #expect(applied.summary.changes.allSatisfy { ($0.after?.revision ?? applied.state.revision) == applied.state.revision })
                // Applying is a pure function.
                let again = try BatchApplier().apply(scenario.nextBatch, to: before, at: UnixMilliseconds(99), liveInstances: scenario.instances)
                #expect(again == applied)
            } catch {
                #expect(before == copy)
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test func theOverrideIndexAgreesWithTheOverridesAfterEveryBatch() async {
        await propertyCheck(count: 300, input: Scenario.generator) { scenario in
            var states = [scenario.state]
            if let next = try? BatchApplier().apply(scenario.nextBatch, to: scenario.state, at: UnixMilliseconds(99), liveInstances: scenario.instances) {
                states.append(next.state)
                states.append(scenario.state.replaying(next.summary))
                states.append(next.state.reverting(next.summary))
            }
            for state in states {
                let scopes = Set(state.featureOverrides.keys.map(\.scope)).union(state.apiOverrides.keys.map(\.scope))
                let probes = scopes.union(scenario.instances.map(\.scope)).union([.global]).union(scenario.instances.map { .component($0.component) })
                for scope in probes {
                    #expect(state.hasOverrides(at: scope) == scopes.contains(scope), "\(scope)")
                }
                // A state rebuilt from its records (as the store does) is equal, index included.
                let rebuilt = GateState(
                    revision: state.revision,
                    features: Array(state.features.values),
                    apis: Array(state.apis.values),
                    featureOverrides: Array(state.featureOverrides.values),
                    apiOverrides: Array(state.apiOverrides.values),
                    builds: Array(state.builds.values)
                )
                #expect(rebuilt == state)
            }
        }
    }

    static let featureGatesInput = Gen<Character>.letter.string(of: 1...8)
        .array(of: 0...6)

    @Test func featureGatesFlagRoundTrips() async {
        await propertyCheck(input: Self.featureGatesInput, Gen.bool.array(of: 6)) { names, values in
            var seen: Set<String> = []
            let entries = zip(names, values).compactMap { name, value -> FeatureGatesFlag.Entry? in
                seen.insert(name).inserted ? FeatureGatesFlag.Entry(feature: name, enabled: value) : nil
            }
            let flag = FeatureGatesFlag(entries: entries)
            #expect((try? FeatureGatesFlag(parsing: flag.description)) == flag)
            #expect((try? FeatureGatesFlag(parsing: "--feature-gates=" + flag.description)) == flag)
        }
    }

    @Test func runtimeConfigFlagRoundTrips() async {
        let selectors: [APISelector] = Random.selectors + [
            .groupVersion(APIGroupVersion(group: "", version: "v1")),
            .resource(APIRef(group: "", version: "v1", resource: "pods")),
            .groupVersion(APIGroupVersion(group: "resource.k8s.io", version: "v1alpha3")),
        ]
        await propertyCheck(input: Gen.int(in: 0..<selectors.count).array(of: 0...8), Gen.bool.array(of: 8)) { indices, values in
            var seen: Set<APISelector> = []
            let entries = zip(indices, values).compactMap { index, value -> RuntimeConfigFlag.Entry? in
                seen.insert(selectors[index]).inserted ? RuntimeConfigFlag.Entry(selector: selectors[index], enabled: value) : nil
            }
            let flag = RuntimeConfigFlag(entries: entries)
            #expect((try? RuntimeConfigFlag(parsing: flag.description)) == flag)
        }
    }
}
