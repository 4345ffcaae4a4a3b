import GatehouseCore
import Yams

/// A manifest file that cannot be read: where (file:line:column) and why.
public struct ManifestError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(self.file):\(self.line):\(self.column): \(self.message)" }
}

/// The manifest file format (`gatectl export` writes it, `apply` and `diff` read it):
///
/// ```yaml
/// apiVersion: gatehouse/v1
/// kind: GateState
/// global:
///   features:
///     ContextualLogging: true
///   apis:
///     api/alpha: false
/// components:
///   kubelet:
///     features:
///       GracefulNodeShutdown:
///         enabled: true
///         parameters:
///           shutdown_grace_period: 45s
///     instances:
///       node-17:
///         features:
///           SidecarContainers: false
///   kube-apiserver:
///     apis:
///       batch/v1beta1: true
/// ```
///
/// A feature is `true`/`false`, or a mapping with `enabled` (optional: leave it out to
/// set only parameters) and `parameters` (written as `--param` takes them; typed by the
/// feature's spec). APIs are `--runtime-config` keys. Unknown keys, names the catalog does
/// not define and values of the wrong type are refused with their line.
extension GateManifest {
    public static let apiVersion = "gatehouse/v1"
    public static let kind = "GateState"

    /// Parses a manifest, typing parameters by `features` (the catalog's definitions, by name).
    public static func parse(yaml: String, file: String, features: [String: FeatureDefinition]) throws(ManifestError) -> GateManifest {
        var parser = ManifestParser(file: file, features: features)
        return try parser.parse(yaml)
    }

    /// The manifest as YAML, in the format ``parse(yaml:file:features:)`` reads; deterministic
    /// (scopes, features and APIs sorted), so an export can be kept in version control.
    public func yaml() -> String {
        var root: [(Node, Node)] = [(Node("apiVersion"), Node(Self.apiVersion)), (Node("kind"), Node(Self.kind))]
        if let global = self.block(at: .global) { root.append((Node("global"), global)) }
        let components = Set(self.scopes.compactMap(\.component)).sorted()
        if !components.isEmpty {
            var pairs: [(Node, Node)] = []
            for component in components {
                var block = self.entries(at: .component(component))
                let instances = self.scopes.compactMap { scope -> (String, Node)? in
                    guard case .instance(component, let id) = scope, let node = self.block(at: scope) else { return nil }
                    return (id, node)
                }
                if !instances.isEmpty {
                    block.append((Node("instances"), Node(instances.map { (Node($0.0), $0.1) })))
                }
                pairs.append((Node(component), Node(block)))
            }
            root.append((Node("components"), Node(pairs)))
        }
        // Serialising a tree built here cannot fail; an empty string would be read back as nothing set.
        return (try? Yams.serialize(node: Node(root), sortKeys: false)) ?? ""
    }

    private func block(at scope: Scope) -> Node? {
        let entries = self.entries(at: scope)
        return entries.isEmpty ? nil : Node(entries)
    }

    /// `features:` and `apis:` of one scope (empty sections left out).
    private func entries(at scope: Scope) -> [(Node, Node)] {
        var pairs: [(Node, Node)] = []
        let features = self.features.filter { $0.key.scope == scope }.sorted { $0.key.feature < $1.key.feature }
        if !features.isEmpty {
            pairs.append((Node("features"), Node(features.map { (Node($0.key.feature), Self.node($0.value)) })))
        }
        let apis = self.apis.filter { $0.key.scope == scope }.sorted { $0.key.selector.description < $1.key.selector.description }
        if !apis.isEmpty {
            pairs.append((Node("apis"), Node(apis.map { (Node($0.key.selector.description), Node(String($0.value))) })))
        }
        return pairs
    }

    private static func node(_ setting: FeatureSetting) -> Node {
        if setting.parameters.isEmpty, let enabled = setting.enabled { return Node(String(enabled)) }
        var pairs: [(Node, Node)] = []
        if let enabled = setting.enabled { pairs.append((Node("enabled"), Node(String(enabled)))) }
        let parameters = setting.parameters.sorted { $0.key < $1.key }.map { (Node($0.key), Node(ManifestText.parameter($0.value))) }
        if !parameters.isEmpty { pairs.append((Node("parameters"), Node(parameters))) }
        return Node(pairs)
    }
}

/// Reads a manifest from Yams' node tree, which keeps every node's line and column.
struct ManifestParser {
    let file: String
    let features: [String: FeatureDefinition]
    var manifest = GateManifest()

    init(file: String, features: [String: FeatureDefinition]) {
        self.file = file
        self.features = features
    }

    mutating func parse(_ yaml: String) throws(ManifestError) -> GateManifest {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw self.yamlError(error)
        } catch {
            throw ManifestError(file: self.file, line: 1, column: 1, message: "not valid YAML: \(error)")
        }
        guard let root else {
            throw ManifestError(file: self.file, line: 1, column: 1, message: "the file is empty; it needs at least apiVersion: \(GateManifest.apiVersion) and kind: \(GateManifest.kind)")
        }
        let top = try self.mapping(root, what: "a manifest", allowed: ["apiVersion", "kind", "global", "components"])
        for key in ["apiVersion", "kind"] where top[key] == nil {
            throw self.error(root, "missing \(key) (the first lines are apiVersion: \(GateManifest.apiVersion) and kind: \(GateManifest.kind))")
        }
        if let version = top["apiVersion"], version.value.string != GateManifest.apiVersion || version.value.scalar == nil {
            throw self.error(version.value, "apiVersion must be \(GateManifest.apiVersion)")
        }
        if let kind = top["kind"], kind.value.string != GateManifest.kind || kind.value.scalar == nil {
            throw self.error(kind.value, "kind must be \(GateManifest.kind)")
        }
        if let global = top["global"] {
            try self.scopeBlock(global.value, scope: .global, allowed: ["features", "apis"])
        }
        if let components = top["components"] {
            for (key, value) in try self.pairs(components.value, what: "components (a mapping of component names)") {
                let component = try self.name(key, kind: "component")
                let block = try self.scopeBlock(value, scope: .component(component), allowed: ["features", "apis", "instances"])
                guard let instances = block["instances"] else { continue }
                for (key, value) in try self.pairs(instances.value, what: "instances (a mapping of instance ids)") {
                    let id = try self.name(key, kind: "instance")
                    try self.scopeBlock(value, scope: .instance(component: component, id: id), allowed: ["features", "apis"])
                }
            }
        }
        return self.manifest
    }

    /// `features:` and `apis:` (and what else `allowed` names) of one scope; returns its keys.
    @discardableResult
    mutating func scopeBlock(_ node: Node, scope: Scope, allowed: [String]) throws(ManifestError) -> [String: (key: Node, value: Node)] {
        let block = try self.mapping(node, what: "the overrides of \(scope)", allowed: allowed)
        if let features = block["features"] {
            for (key, value) in try self.pairs(features.value, what: "features (a mapping of feature names)") {
                let name = try self.featureName(key)
                let override = FeatureOverrideKey(feature: name, scope: scope)
                self.manifest.features[override] = try self.setting(value, feature: name)
            }
        }
        if let apis = block["apis"] {
            for (key, value) in try self.pairs(apis.value, what: "apis (a mapping of --runtime-config keys)") {
                let selector: APISelector
                do {
                    selector = try APISelector(parsing: key.string ?? "")
                } catch {
                    throw self.error(key, error.message)
                }
                self.manifest.apis[APIOverrideKey(selector: selector, scope: scope)] = try self.bool(value, what: "api \(selector)")
            }
        }
        return block
    }

    func featureName(_ node: Node) throws(ManifestError) -> String {
        let name = node.string ?? ""
        guard self.features[name] != nil else {
            let suggestion = ClosestName.suggestion(for: name, among: self.features.keys).map { "; did you mean \($0)?" } ?? ""
            throw self.error(node, "unknown feature \(name): no feature of that name is defined (names are case-sensitive)\(suggestion)")
        }
        return name
    }

    func setting(_ node: Node, feature: String) throws(ManifestError) -> FeatureSetting {
        if node.scalar != nil {
            return FeatureSetting(enabled: try self.bool(node, what: "feature \(feature)"))
        }
        let fields = try self.mapping(node, what: "feature \(feature) (true, false, or enabled: and parameters:)", allowed: ["enabled", "parameters"])
        var setting = FeatureSetting(enabled: nil)
        if let enabled = fields["enabled"] {
            setting.enabled = try self.bool(enabled.value, what: "enabled")
        }
        if let parameters = fields["parameters"], let definition = self.features[feature] {
            for (key, value) in try self.pairs(parameters.value, what: "parameters (a mapping of parameter names)") {
                let name = key.string ?? ""
                guard let spec = definition.parameter(named: name) else {
                    let known = definition.parameters.isEmpty
                        ? "it has no parameters"
                        : "it has " + definition.parameters.map(\.name).joined(separator: ", ")
                    let suggestion = ClosestName.suggestion(for: name, among: definition.parameters.map(\.name)).map { "; did you mean \($0)?" } ?? ""
                    throw self.error(key, "feature \(feature) has no parameter \(name) (\(known))\(suggestion)")
                }
                guard let text = value.scalar?.string else {
                    throw self.error(value, "parameter \(name) of \(feature): expected a value such as 30s, 50, true or a word, not a \(Self.kind(of: value))")
                }
                do {
                    setting.parameters[name] = try spec.value(parsing: text, feature: feature)
                } catch {
                    throw self.error(value, error.message)
                }
            }
        }
        guard setting.enabled != nil || !setting.parameters.isEmpty else {
            throw self.error(node, "feature \(feature): give enabled, parameters, or both (or leave the feature out)")
        }
        return setting
    }

    func bool(_ node: Node, what: String) throws(ManifestError) -> Bool {
        switch node.scalar?.string {
        case "true": return true
        case "false": return false
        default: throw self.error(node, "\(what): expected true or false, got \(Self.shown(node))")
        }
    }

    func name(_ node: Node, kind: String) throws(ManifestError) -> String {
        let name = node.string ?? ""
        let scope = kind == "component" ? "component/\(name)" : "instance/x/\(name)"
        do {
            _ = try Scope(parsing: scope)
        } catch {
            throw self.error(node, "\"\(ControlCharacters.escaped(name))\" is not a valid \(kind) name (non-empty, at most 253 characters, no whitespace, control characters, '/', '=' or ',')")
        }
        return name
    }

    /// A mapping's entries by key, refusing keys `allowed` does not name and duplicates. A null
    /// (a key with nothing after it) is an empty mapping.
    func mapping(_ node: Node, what: String, allowed: [String]) throws(ManifestError) -> [String: (key: Node, value: Node)] {
        var result: [String: (key: Node, value: Node)] = [:]
        for (key, value) in try self.pairs(node, what: what) {
            let name = key.string ?? ""
            guard allowed.contains(name) else {
                let suggestion = ClosestName.suggestion(for: name, among: allowed).map { "did you mean \($0)? " } ?? ""
                throw self.error(key, "unknown key \"\(ControlCharacters.escaped(name))\" in \(what); \(suggestion)expected \(allowed.joined(separator: ", "))")
            }
            result[name] = (key, value)
        }
        return result
    }

    /// A mapping's pairs in file order; a duplicate key is refused. A null is empty.
    func pairs(_ node: Node, what: String) throws(ManifestError) -> [(Node, Node)] {
        if let scalar = node.scalar, scalar.tag.rawValue == Tag.Name.null.rawValue || (scalar.style == .plain && ["", "~", "null"].contains(scalar.string)) {
            return []
        }
        guard let mapping = node.mapping else {
            throw self.error(node, "expected \(what), got \(Self.shown(node))")
        }
        var seen: Set<String> = []
        var pairs: [(Node, Node)] = []
        for (key, value) in mapping {
            guard key.scalar != nil, let name = key.string else { throw self.error(key, "a key in \(what) must be a plain name") }
            guard seen.insert(name).inserted else { throw self.error(key, "\"\(ControlCharacters.escaped(name))\" appears twice in \(what)") }
            pairs.append((key, value))
        }
        return pairs
    }

    func error(_ node: Node, _ message: String) -> ManifestError {
        ManifestError(file: self.file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, message: message)
    }

    func yamlError(_ error: YamlError) -> ManifestError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ManifestError(file: self.file, line: mark.line, column: mark.column, message: "not valid YAML: \(text)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // The mark is the mapping's; each key appears once in a manifest.
            return ManifestError(
                file: self.file, line: context.mark.line, column: context.mark.column,
                message: "\(duplicates.map { "\"\(ControlCharacters.escaped($0))\"" }.joined(separator: ", ")) appears twice in one mapping"
            )
        default:
            return ManifestError(file: self.file, line: 1, column: 1, message: "not valid YAML: \(error)")
        }
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .scalar: "value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }

    static func shown(_ node: Node) -> String {
        if let text = node.scalar?.string { return "\"\(ControlCharacters.escaped(text))\"" }
        return "a \(Self.kind(of: node))"
    }
}
