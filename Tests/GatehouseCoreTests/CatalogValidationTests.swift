import Testing
@testable import GatehouseCore

@Suite("Catalog validation")
struct CatalogValidationTests {
    func problems(_ features: [FeatureDefinition], apis: [APIDefinition] = []) -> [String] {
        Catalog(features: features, apis: apis).problems()
    }

    @Test func fixtureAndKubernetesCatalogsAreSound() throws {
        try Fixtures.catalog.validate()
        try KubernetesCatalog.catalog.validate()
    }

    @Test func duplicateNames() {
        let found = problems([
            FeatureDefinition(name: "A", stage: .beta, defaultEnabled: false),
            FeatureDefinition(name: "A", stage: .ga, defaultEnabled: true),
        ], apis: [
            APIDefinition(APIRef(group: "batch", version: "v1"), stage: .ga),
            APIDefinition(APIRef(group: "batch", version: "v1"), stage: .beta),
        ])
        #expect(found.contains("feature A is defined more than once"))
        #expect(found.contains("API batch/v1 is defined more than once"))
    }

    @Test func unknownAndSelfDependencies() {
        let found = problems([
            FeatureDefinition(name: "A", stage: .beta, defaultEnabled: false, dependencies: ["Ghost", "A"]),
        ])
        #expect(found.contains("feature A depends on Ghost, which is not defined"))
        #expect(found.contains("feature A depends on itself"))
    }

    @Test func cyclesAreNamed() {
        let found = problems([
            FeatureDefinition(name: "A", stage: .beta, defaultEnabled: false, dependencies: ["B"]),
            FeatureDefinition(name: "B", stage: .beta, defaultEnabled: false, dependencies: ["C"]),
            FeatureDefinition(name: "C", stage: .beta, defaultEnabled: false, dependencies: ["A"]),
        ])
        #expect(found == ["dependency cycle: A → B → C → A"])
    }

    @Test func locksThatMakeDependenciesImpossible() {
        let found = problems([
            FeatureDefinition(name: "On", stage: .ga, defaultEnabled: true, lockToDefault: true, dependencies: ["Off"]),
            FeatureDefinition(name: "Off", stage: .deprecated, defaultEnabled: false, lockToDefault: true),
            FeatureDefinition(name: "Maybe", stage: .alpha, defaultEnabled: false, dependencies: ["Off"]),
        ])
        #expect(found.contains("feature On is locked on but needs Off, which is locked off"))
        #expect(found.contains("feature Maybe needs Off, which is locked off, so Maybe could never be enabled"))
    }

    @Test func defaultOnNeedsDefaultOn() {
        let found = problems([
            FeatureDefinition(name: "A", stage: .beta, defaultEnabled: true, dependencies: ["B"]),
            FeatureDefinition(name: "B", stage: .alpha, defaultEnabled: false),
        ])
        #expect(found == ["feature A is on by default but needs B, which is off by default; turn B on by default or A off"])
    }

    @Test func parameterAndNameProblems() {
        let found = problems([
            FeatureDefinition(name: "1Bad", stage: .beta, defaultEnabled: false),
            FeatureDefinition(name: "P", components: ["kubelet"], stage: .beta, defaultEnabled: false,
                              minimumVersions: ["kube-proxy": Version(1, 30)],
                              parameters: [
                                  ParameterSpec(name: "x", kind: .int(default: 50, min: 0, max: 10)),
                                  ParameterSpec(name: "x", kind: .bool(default: true)),
                              ]),
        ])
        #expect(found.contains { $0.contains("\"1Bad\"") })
        #expect(found.contains("feature P: parameter x is declared more than once"))
        #expect(found.contains { $0.contains("parameter x: default 50 is invalid") })
        #expect(found.contains { $0.contains("kube-proxy, which the feature does not apply to") })
    }

    @Test func validateListsEveryProblem() {
        let catalog = Catalog(features: [
            FeatureDefinition(name: "A", stage: .beta, defaultEnabled: false, dependencies: ["X"]),
            FeatureDefinition(name: "B", stage: .beta, defaultEnabled: false, dependencies: ["Y"]),
        ])
        do {
            try catalog.validate()
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.reason == .invalidCatalog)
            #expect(error.message.hasPrefix("the catalog has 2 problems:"))
            #expect(error.message.contains("- feature A depends on X, which is not defined"))
            #expect(error.message.contains("- feature B depends on Y, which is not defined"))
        }
    }
}
