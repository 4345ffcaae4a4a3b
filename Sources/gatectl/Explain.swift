import ArgumentParser
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// `gatectl explain COMPONENT [--instance I]`: each feature's and API's value there, and the rule that decided it.
struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a component (or one instance) gets, and why: the rule that decided each value.",
        discussion: """
            Features come first, each followed by its parameters (indented), then APIs.
            REASON names the deciding rule: an override at instance, component or global
            scope (with its revision), a rollout, the default, a lock, a dependency that
            is off, or a replica too old for the feature.

            Without --instance, resolution stops at the component's scope (no instance
            overrides, no rollout assignment).

            Examples:
              gatectl explain kubelet
              gatectl explain kubelet --instance node-17 --feature GracefulNodeShutdown
              gatectl explain kube-apiserver --apis-only
              gatectl explain kube-scheduler -o json \\
                  | jq '.entries[] | select(.reason.rule != "RULE_DEFAULT")'
            """
    )

    @Argument(help: "The component, e.g. kubelet.", completion: Completions.components)
    var component: String

    @Option(name: .long, help: ArgumentHelp("Resolve for this instance of the component.", valueName: "id"))
    var instance: String?

    @Option(name: .customLong("feature"), help: ArgumentHelp("Only this feature (repeatable).", valueName: "name"))
    var features: [String] = []

    @Option(name: .customLong("api"), help: ArgumentHelp("Only this API, e.g. batch/v1beta1 (repeatable).", valueName: "api"))
    var apis: [String] = []

    @Flag(name: .long, help: "Only features, no APIs.")
    var featuresOnly = false

    @Flag(name: .long, help: "Only APIs, no features.")
    var apisOnly = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !(self.featuresOnly && self.apisOnly) else {
            throw ValidationError("--features-only and --apis-only leave nothing to show; give at most one")
        }
        for api in self.apis {
            do { _ = try APIRef(parsing: api) } catch { throw ValidationError(error.message) }
        }
    }

    func run() async throws {
        try await ExitStatus.run {
            let refs = try self.apis.map { try APIRef(parsing: $0).wire }
            let request = Gatehouse_V1_ExplainRequest.with { request in
                request.component = self.component
                request.instanceID = self.instance ?? ""
                request.features = self.features
                request.apis = refs
                // Naming only features (or only APIs) means the other kind is not wanted.
                request.skipFeatures = self.apisOnly || (self.features.isEmpty && !self.apis.isEmpty)
                request.skipApis = self.featuresOnly || (self.apis.isEmpty && !self.features.isEmpty)
            }
            let response = try await self.global.withClient { try await $0.explain(request) }
            try Printer.print(response, as: self.global.output) { self.table(response) }
        }
    }

    func table(_ response: Gatehouse_V1_ExplainResponse) -> String {
        let target = self.instance.map { "instance \(self.component)/\($0)" } ?? "component \(self.component)"
        var features: [[String]] = []
        var apis: [[String]] = []
        for entry in response.entries {
            switch entry.target {
            case .feature(let feature):
                features.append([feature.name, Format.enabled(feature.enabled), entry.reason.text])
                for (name, value) in feature.params.sorted(by: { $0.key < $1.key }) {
                    features.append(["  \(name)", Format.value(value), entry.paramReasons[name]?.text ?? "-"])
                }
            case .api(let api):
                apis.append([Format.api(api.api), Format.enabled(api.enabled), entry.reason.text])
            case nil:
                continue
            }
        }
        var sections = ["\(target) at revision \(response.revision)\n"]
        if !features.isEmpty { sections.append(Printer.table(header: ["NAME", "VALUE", "REASON"], rows: features)) }
        if !apis.isEmpty { sections.append(Printer.table(header: ["API", "VALUE", "REASON"], rows: apis)) }
        if features.isEmpty && apis.isEmpty { sections.append("nothing applies to \(self.component)\n") }
        return sections.joined(separator: "\n")
    }
}
