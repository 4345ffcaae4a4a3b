import GatehouseClient
import GatehouseCore
import Testing

/// The declarative manifest: parsing (with file:line refusals), export text, and the diff apply sends.
@Suite struct ManifestTests {
    static let features: [String: FeatureDefinition] = [
        "Foo": FeatureDefinition(name: "Foo", stage: .beta, defaultEnabled: false),
        "Bar": FeatureDefinition(
            name: "Bar",
            stage: .alpha,
            defaultEnabled: false,
            parameters: [
                ParameterSpec(name: "timeout", kind: .duration(defaultMs: 1000, minMs: 0, maxMs: nil)),
                ParameterSpec(name: "mode", kind: .enumeration(default: "safe", values: ["fast", "safe"])),
                ParameterSpec(name: "label", kind: .string(default: "", regex: nil)),
            ]
        ),
    ]

    static let yaml = """
        apiVersion: gatehouse/v1
        kind: GateState
        global:
          features: {Foo: true}
          apis: {api/alpha: false, batch/v1beta1: true}
        components:
          kube-apiserver:
            features:
              Bar: {enabled: true, parameters: {timeout: 30s, mode: fast}}
            instances:
              apiserver-1:
                features:
                  Bar: {parameters: {label: "true"}}
                  Foo: false
        """

    static func parse(_ yaml: String) throws(ManifestError) -> GateManifest {
        try GateManifest.parse(yaml: yaml, file: "gates.yaml", features: Self.features)
    }

    static func refusal(_ yaml: String) -> ManifestError? {
        do {
            _ = try Self.parse(yaml)
            return nil
        } catch {
            return error
        }
    }

    let apiserver = Scope.component("kube-apiserver")
    let replica = Scope.instance(component: "kube-apiserver", id: "apiserver-1")

    @Test func parsesEveryScopeWithTypedParameters() throws {
        let manifest = try Self.parse(Self.yaml)
        #expect(manifest.features == [
            FeatureOverrideKey(feature: "Foo", scope: .global): FeatureSetting(enabled: true),
            FeatureOverrideKey(feature: "Bar", scope: apiserver): FeatureSetting(enabled: true, parameters: ["timeout": .durationMs(30_000), "mode": .enumValue("fast")]),
            FeatureOverrideKey(feature: "Bar", scope: replica): FeatureSetting(enabled: nil, parameters: ["label": .string("true")]),
            FeatureOverrideKey(feature: "Foo", scope: replica): FeatureSetting(enabled: false),
        ])
        #expect(manifest.apis == [
            APIOverrideKey(selector: .stage(.alpha), scope: .global): false,
            APIOverrideKey(selector: .groupVersion(APIGroupVersion(group: "batch", version: "v1beta1")), scope: .global): true,
        ])
    }

    @Test func exportTextParsesBackToTheSameManifest() throws {
        let manifest = try Self.parse(Self.yaml)
        let text = manifest.yaml()
        #expect(try Self.parse(text) == manifest)
        #expect(text.hasPrefix("apiVersion: gatehouse/v1\nkind: GateState\n"))
        #expect(text.contains("timeout: 30s"))
        #expect(manifest.yaml() == text, "deterministic")
        #expect(GateManifest().yaml() == "apiVersion: gatehouse/v1\nkind: GateState\n")
        #expect(try Self.parse(GateManifest().yaml()).isEmpty)
    }

    @Test(arguments: [
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobl: {}\n", 3, 1, "unknown key \"globl\" in a manifest; did you mean global?"),
        ("apiVersion: gatehouse/v2\nkind: GateState\n", 1, 13, "apiVersion must be gatehouse/v1"),
        ("kind: GateState\n", 1, 1, "missing apiVersion"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    Fooo: true\n", 5, 5, "unknown feature Fooo: no feature of that name is defined (names are case-sensitive); did you mean Foo?"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    Foo: yes\n", 5, 10, "feature Foo: expected true or false, got \"yes\""),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    Bar: {parameters: {timeout: soon}}\n", 5, 33, "parameter timeout of Bar: \"soon\" is not a duration"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    Bar: {parameters: {mode: slow}}\n", 5, 30, "parameter mode of Bar: \"slow\" is not one of fast, safe"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    Bar: {parameters: {modes: fast}}\n", 5, 24, "feature Bar has no parameter modes (it has timeout, mode, label); did you mean mode?"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  apis:\n    batch: true\n", 5, 5, "batch"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal:\n  features:\n    Foo: true\n    Foo: false\n", 5, 5, "\"Foo\" appears twice"),
        ("apiVersion: gatehouse/v1\nkind: GateState\ncomponents:\n  kubelet:\n    instance: {}\n", 5, 5, "unknown key \"instance\" in the overrides of component kubelet; did you mean instances?"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal: [1, 2]\n", 3, 9, "expected the overrides of global"),
        ("apiVersion: gatehouse/v1\nkind: GateState\nglobal: {features: {Foo: true}\n", 4, 1, "not valid YAML"),
    ])
    func refusesWithFileLineAndColumn(_ yaml: String, _ line: Int, _ column: Int, _ message: String) throws {
        let error = try #require(Self.refusal(yaml))
        #expect(error.file == "gates.yaml")
        #expect(error.line == line, "\(error)")
        #expect(error.column == column, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(error.description.hasPrefix("gates.yaml:\(line):\(column): "))
    }

    @Test func aDiffAddsChangesAndOnlyPrunesWhenAsked() throws {
        let current = try Self.parse("""
            apiVersion: gatehouse/v1
            kind: GateState
            global: {features: {Foo: false}, apis: {api/beta: true}}
            components:
              kube-apiserver:
                features: {Bar: {enabled: true, parameters: {timeout: 10s, mode: fast}}}
            """)
        let desired = try Self.parse("""
            apiVersion: gatehouse/v1
            kind: GateState
            global: {features: {Foo: true}}
            components:
              kube-apiserver:
                features: {Bar: {enabled: true, parameters: {timeout: 10s}}}
                instances: {apiserver-1: {apis: {batch/v1beta1: false}}}
            """)
        let kept = ManifestDiff(from: current, to: desired, prune: false)
        #expect(kept.entries.map(\.line) == [
            "~ feature Foo at global: false -> true",
            "~ feature Bar at component kube-apiserver: true {mode=fast, timeout=10s} -> true {timeout=10s}",
            "+ api batch/v1beta1 at instance kube-apiserver/apiserver-1: false",
        ])
        let batch = APISelector.groupVersion(APIGroupVersion(group: "batch", version: "v1beta1"))
        #expect(kept.changes == [
            .setFeature("Foo", scope: .global, enabled: true),
            // A parameter the file drops can only go with the override, rewritten in the same batch.
            .clearFeature("Bar", scope: apiserver),
            .setFeature("Bar", scope: apiserver, enabled: true, parameters: ["timeout": .durationMs(10_000)]),
            .setAPI(batch, scope: replica, enabled: false),
        ])
        let pruned = ManifestDiff(from: current, to: desired, prune: true)
        #expect(pruned.entries.map(\.line).contains("- api api/beta at global (was true)"))
        #expect(pruned.changes.contains(.clearAPI(.stage(.beta), scope: .global)))
    }

    @Test func theSameStateIsNoDiff() throws {
        let manifest = try Self.parse(Self.yaml)
        for prune in [false, true] {
            let diff = ManifestDiff(from: manifest, to: try Self.parse(manifest.yaml()), prune: prune)
            #expect(diff.isEmpty)
            #expect(diff.entries.isEmpty)
        }
        // Without --prune an empty file changes nothing; with it, it removes everything.
        #expect(ManifestDiff(from: manifest, to: GateManifest(), prune: false).isEmpty)
        #expect(ManifestDiff(from: manifest, to: GateManifest(), prune: true).changes.count == 6)
    }

    @Test func durationsAreWrittenInTheLargestExactUnit() throws {
        let key = FeatureOverrideKey(feature: "Bar", scope: .global)
        for (milliseconds, text) in [(Int64(0), "0ms"), (1500, "1500ms"), (30_000, "30s"), (90_000, "90s"), (120_000, "2m"), (7_200_000, "2h")] {
            let manifest = GateManifest(features: [key: FeatureSetting(enabled: nil, parameters: ["timeout": .durationMs(milliseconds)])])
            #expect(manifest.yaml().contains("timeout: \(text)"), "\(milliseconds)")
            #expect(try Self.parse(manifest.yaml()) == manifest)
        }
    }
}
