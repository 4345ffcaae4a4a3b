import Foundation
import Testing
@testable import GatehouseCore

/// Keeps `Examples/kubernetes-catalog.yaml` identical to `KubernetesCatalog.catalog`.
///
/// The core reads no YAML, so the file is rendered from the in-code catalog
/// (which the other tests validate and resolve); the server's tests decode
/// the file with Yams. Regenerate with
/// `GATEHOUSE_WRITE_EXAMPLES=1 swift test --filter ExampleCatalogTests`.
@Suite("Example catalog")
struct ExampleCatalogTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/kubernetes-catalog.yaml")

    @Test func exampleFileMatchesTheInCodeCatalog() throws {
        let rendered = CatalogYAML.render(KubernetesCatalog.catalog, header: Self.header)
        if ProcessInfo.processInfo.environment["GATEHOUSE_WRITE_EXAMPLES"] == "1" {
            try rendered.write(to: Self.path, atomically: true, encoding: .utf8)
        }
        let onDisk = try String(contentsOf: Self.path, encoding: .utf8)
        #expect(onDisk == rendered, "Examples/kubernetes-catalog.yaml is stale: regenerate it (see ExampleCatalogTests)")
    }

    @Test func inCodeCatalogIsSubstantial() throws {
        let catalog = KubernetesCatalog.catalog
        try catalog.validate()
        #expect(catalog.features.count >= 60)
        #expect(Set(Stage.allCases).isSubset(of: Set(catalog.features.map(\.stage))))
        #expect(catalog.features.contains { $0.lockToDefault })
        #expect(catalog.features.contains { !$0.dependencies.isEmpty })
        #expect(catalog.features.contains { !$0.parameters.isEmpty })
        #expect(catalog.features.contains { !$0.minimumVersions.isEmpty })
        #expect(Set(Stage.allCases).isSubset(of: Set(catalog.apis.map(\.stage))))
    }

    static let header = """
        # Kubernetes' own feature gates and API group/versions, around v1.32, as a
        # Gatehouse catalog. Typed in from the public feature-gate and API reference;
        # check the stages against the release you run before relying on them.
        # The parameters of SchedulerQueueingHints and GracefulNodeShutdown are
        # made up, to show typed parameters.
        #
        # Generated from Tests/GatehouseCoreTests/KubernetesCatalog.swift; edit that
        # file and run `GATEHOUSE_WRITE_EXAMPLES=1 swift test --filter ExampleCatalogTests`.
        """
}

/// A small YAML writer for the catalog's shape: block mappings, flow lists, double-quoted free text.
enum CatalogYAML {
    static func render(_ catalog: Catalog, header: String) -> String {
        var lines: [String] = header.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.append("")
        lines.append("features:")
        for feature in catalog.features {
            lines.append("  - name: \(feature.name)")
            lines.append("    stage: \(feature.stage.rawValue)")
            lines.append("    default_enabled: \(feature.defaultEnabled)")
            if feature.lockToDefault { lines.append("    lock_to_default: true") }
            if !feature.components.isEmpty { lines.append("    components: \(list(feature.components))") }
            if !feature.description.isEmpty { lines.append("    description: \(quoted(feature.description))") }
            if !feature.dependencies.isEmpty { lines.append("    dependencies: \(list(feature.dependencies))") }
            if !feature.minimumVersions.isEmpty {
                lines.append("    min_component_versions:")
                for (component, version) in feature.minimumVersions.sorted(by: { $0.key < $1.key }) {
                    lines.append("      \(component): \(quoted(version.description))")
                }
            }
            if !feature.parameters.isEmpty {
                lines.append("    parameters:")
                for parameter in feature.parameters {
                    lines.append("      - name: \(parameter.name)")
                    lines.append("        type: \(parameter.kind.typeName)")
                    switch parameter.kind {
                    case .bool(let value):
                        lines.append("        default: \(value)")
                    case .int(let value, let min, let max):
                        lines.append("        default: \(value)")
                        if let min { lines.append("        min: \(min)") }
                        if let max { lines.append("        max: \(max)") }
                    case .string(let value, let regex):
                        lines.append("        default: \(quoted(value))")
                        if let regex { lines.append("        regex: \(quoted(regex))") }
                    case .enumeration(let value, let values):
                        lines.append("        default: \(quoted(value))")
                        lines.append("        values: [\(values.map(quoted).joined(separator: ", "))]")
                    case .duration(let value, let min, let max):
                        lines.append("        default_ms: \(value)")
                        if let min { lines.append("        min_ms: \(min)") }
                        if let max { lines.append("        max_ms: \(max)") }
                    }
                    if !parameter.description.isEmpty { lines.append("        description: \(quoted(parameter.description))") }
                }
            }
        }
        lines.append("")
        lines.append("apis:")
        for api in catalog.apis {
            lines.append("  - api: \(quoted(api.ref.description))")
            lines.append("    stage: \(api.stage.rawValue)")
            if let explicit = api.defaultEnabled { lines.append("    default_enabled: \(explicit)") }
            if !api.components.isEmpty { lines.append("    components: \(list(api.components))") }
            if !api.description.isEmpty { lines.append("    description: \(quoted(api.description))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func list(_ items: [String]) -> String {
        "[" + items.joined(separator: ", ") + "]"
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
