import Testing
@testable import GatehouseCore

/// Long dependency chains: once a 50,000-long chain crashed the server (recursion) and 10,000 took 24 s.
@Suite("Dependency depth")
struct DependencyDepthTests {
    /// `F0` needs `F1` needs … `F(count-1)`; all off by default.
    static func chain(_ count: Int, prefix: String = "F") -> [FeatureDefinition] {
        (0..<count).map { index in
            FeatureDefinition(
                name: "\(prefix)\(index)",
                stage: .alpha,
                defaultEnabled: false,
                dependencies: index + 1 < count ? ["\(prefix)\(index + 1)"] : []
            )
        }
    }

    @Test func aChainAtTheLimitIsAcceptedQuickly() throws {
        let started = ContinuousClock.now
        let catalog = Catalog(features: Self.chain(Catalog.maximumDependencyChain))
        #expect(catalog.problems().isEmpty)
        let applied = try BatchApplier().apply(.importing(catalog, actor: "admin"), to: GateState(), at: UnixMilliseconds(0), liveInstances: [])
        // Enabling the whole chain at once is one acceptable batch.
        let enableAll = ChangeBatch(changes: catalog.features.map { .setFeature($0.name, scope: .global, enabled: true) }, actor: "admin")
        let enabled = try BatchApplier().apply(enableAll, to: applied.state, at: UnixMilliseconds(1), liveInstances: [])
        let resolved = Resolver(state: enabled.state).resolve(InstanceRef(component: "kubelet", instanceID: "n1", version: nil))
        #expect(resolved.features["F0"]?.enabled == true)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func oneMoreIsRefusedNamingTheChain() {
        let problems = Catalog(features: Self.chain(Catalog.maximumDependencyChain + 1)).problems()
        #expect(problems == [
            "dependency chain too long: F0 → F1 → F2 → … → F62 → F63 → F64 is 65 features long, and at most 64 may need one another in a row; depend on fewer features, or directly on the ones further down",
        ])
    }

    @Test func aFiftyThousandChainIsRefusedQuicklyWithoutCrashing() {
        let started = ContinuousClock.now
        let catalog = Catalog(features: Self.chain(50_000))
        do {
            _ = try BatchApplier().apply(.importing(catalog, actor: "admin"), to: GateState(), at: UnixMilliseconds(0), liveInstances: [])
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("F0 → F1 → F2 → … → F49997 → F49998 → F49999 is 50000 features long"))
            #expect(error.message.utf8.count < 1000)
        }
        // About 3 s in a debug build on its own (before: a crash); generous for a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func aLongCycleIsNamedShortly() {
        var features = Self.chain(50_000)
        features[49_999].dependencies = ["F0"]
        let problems = Catalog(features: features).problems()
        #expect(problems == ["dependency cycle: F0 → F1 → F2 → … → F49998 → F49999 → F0"])
    }

    @Test func manyProblemsAreCountedNotAllListed() {
        let features = (0..<500).map { FeatureDefinition(name: "F\($0)", stage: .alpha, defaultEnabled: false, dependencies: ["Ghost\($0)"]) }
        do {
            try Catalog(features: features).validate()
            Issue.record("accepted")
        } catch {
            #expect(error.message.hasPrefix("the catalog has 500 problems:"))
            #expect(error.message.hasSuffix("\n- … and 480 more"))
        }
    }

    @Test func resolvingAStoredDeepChainDoesNotOverflowTheStack() {
        // A state stored before the limit existed is loaded as it is, not validated: resolution must cope.
        var features = Self.chain(100_000)
        features = features.map { var feature = $0; feature.defaultEnabled = true; return feature }
        let state = GateState(revision: 1, features: features.map { Revisioned($0, revision: 1) }, apis: [], featureOverrides: [], apiOverrides: [])
        let resolver = Resolver(state: state)
        let node = InstanceRef(component: "kubelet", instanceID: "n1", version: nil)
        #expect(resolver.resolveFeature("F0", for: node)?.enabled == true)
        var cyclic = features
        cyclic[99_999].dependencies = ["F0"]
        let looped = GateState(revision: 1, features: cyclic.map { Revisioned($0, revision: 1) }, apis: [], featureOverrides: [], apiOverrides: [])
        #expect(Resolver(state: looped).resolveFeature("F0", for: node)?.enabled == false)
    }

    @Test func lockedOnNeedingAVersionGatedFeatureIsFoundThroughTheChain() {
        var features = Self.chain(10, prefix: "L")
        features = features.map { var feature = $0; feature.defaultEnabled = true; return feature }
        features[0].lockToDefault = true
        features[7].minimumVersions = ["kubelet": Version(1, 31)]
        features[4].minimumVersions = ["kubelet": Version(1, 31)]
        #expect(Catalog(features: features).problems() == [
            "feature L0 is locked on but needs L4, which has minimum versions; replicas older than those would run L0 without it",
        ])
    }

    @Test func importingManyFeaturesIsNotQuadratic() throws {
        // 20,000 independent features and 20,000 needing one shared base: each definition updates the
        // dependents index by its own dependencies, not by rebuilding it.
        let started = ContinuousClock.now
        var features = (0..<20_000).map { FeatureDefinition(name: "P\($0)", stage: .alpha, defaultEnabled: false) }
        features += (0..<20_000).map { FeatureDefinition(name: "D\($0)", stage: .alpha, defaultEnabled: false, dependencies: ["P0"]) }
        let applied = try BatchApplier().apply(.importing(Catalog(features: features), actor: "admin"), to: GateState(), at: UnixMilliseconds(0), liveInstances: [])
        #expect(applied.state.dependents["P0"]?.count == 20_000)
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}
