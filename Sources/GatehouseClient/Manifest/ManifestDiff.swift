import GatehouseCore

/// What applying a manifest would do to the overrides a server holds: the changes to send, and
/// one line per override for people (`gatectl diff`).
///
/// Pure: computed from the two manifests alone. Without `prune`, an override the server holds
/// and the manifest does not mention is left alone (as `kubectl apply` leaves objects it was
/// not given); with it, such an override is removed.
public struct ManifestDiff: Hashable, Sendable {
    /// One difference, for people.
    public enum Entry: Hashable, Sendable {
        /// An override the manifest adds.
        case added(String)
        /// An override the manifest removes (only with `prune`).
        case removed(String)
        /// An override whose value the manifest changes: the line, then what changed.
        case changed(String, from: String, to: String)

        /// `+ …`, `- …`, `~ …`: the line `gatectl diff` prints.
        public var line: String {
            switch self {
            case .added(let text): "+ \(text)"
            case .removed(let text): "- \(text)"
            case .changed(let subject, let from, let to): "~ \(subject): \(from) -> \(to)"
            }
        }
    }

    /// The differences, in manifest order (scope, then features before APIs, then name).
    public var entries: [Entry]
    /// The override changes that make the current state the desired one, as one batch's changes.
    public var changes: [Change]

    /// Whether applying would change nothing.
    public var isEmpty: Bool { self.changes.isEmpty }

    /// The diff from `current` to `desired`.
    public init(from current: GateManifest, to desired: GateManifest, prune: Bool) {
        var entries: [Entry] = []
        var changes: [Change] = []
        let scopes = Set(current.scopes + desired.scopes).sorted(by: Scope.manifestOrder)
        // Grouped once, not filtered per scope: a fleet's instance scopes are many.
        var featuresByScope: [Scope: Set<String>] = [:]
        for key in [current.features.keys, desired.features.keys].joined() { featuresByScope[key.scope, default: []].insert(key.feature) }
        var apisByScope: [Scope: Set<APISelector>] = [:]
        for key in [current.apis.keys, desired.apis.keys].joined() { apisByScope[key.scope, default: []].insert(key.selector) }
        for scope in scopes {
            for name in (featuresByScope[scope] ?? []).sorted() {
                let key = FeatureOverrideKey(feature: name, scope: scope)
                let subject = "feature \(name) at \(scope)"
                switch (current.features[key], desired.features[key]) {
                case (nil, nil):
                    continue
                case (nil, let wanted?):
                    entries.append(.added("\(subject): \(wanted.text)"))
                    changes.append(.setFeature(name, scope: scope, enabled: wanted.enabled, parameters: wanted.parameters))
                case (let stored?, nil):
                    guard prune else { continue }
                    entries.append(.removed("\(subject) (was \(stored.text))"))
                    changes.append(.clearFeature(name, scope: scope))
                case (let stored?, let wanted?):
                    guard stored != wanted else { continue }
                    entries.append(.changed(subject, from: stored.text, to: wanted.text))
                    // A set merges into the stored override: what the manifest drops (a parameter,
                    // an on/off) can only go by removing the override first, in the same batch.
                    let drops = (stored.enabled != nil && wanted.enabled == nil)
                        || !Set(stored.parameters.keys).isSubset(of: wanted.parameters.keys)
                    if drops { changes.append(.clearFeature(name, scope: scope)) }
                    changes.append(.setFeature(name, scope: scope, enabled: wanted.enabled, parameters: wanted.parameters))
                }
            }
            for selector in (apisByScope[scope] ?? []).sorted(by: { $0.description < $1.description }) {
                let key = APIOverrideKey(selector: selector, scope: scope)
                let subject = "api \(selector) at \(scope)"
                switch (current.apis[key], desired.apis[key]) {
                case (nil, nil):
                    continue
                case (nil, let wanted?):
                    entries.append(.added("\(subject): \(wanted)"))
                    changes.append(.setAPI(selector, scope: scope, enabled: wanted))
                case (let stored?, nil):
                    guard prune else { continue }
                    entries.append(.removed("\(subject) (was \(stored))"))
                    changes.append(.clearAPI(selector, scope: scope))
                case (let stored?, let wanted?):
                    guard stored != wanted else { continue }
                    entries.append(.changed(subject, from: String(stored), to: String(wanted)))
                    changes.append(.setAPI(selector, scope: scope, enabled: wanted))
                }
            }
        }
        self.entries = entries
        self.changes = changes
    }
}

extension FeatureSetting {
    /// `true`, `false`, `true {timeout=30s}`, `(unset) {weight=3}`: one override's value in a diff line.
    var text: String {
        let enabled = self.enabled.map(String.init) ?? "(inherited)"
        guard !self.parameters.isEmpty else { return enabled }
        let parameters = self.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(ManifestText.parameter($0.value))" }
        return "\(enabled) {\(parameters.joined(separator: ", "))}"
    }
}
