/// What one version of a component's binary knows: the features and APIs compiled into it.
///
/// Recorded in the catalog when an instance of that build registers, so an
/// admin can see which builds know a feature before enabling it, and the
/// record outlives the instances (they come and go; builds stay known).
public struct ComponentBuild: Hashable, Sendable, Codable {
    public var component: String
    /// The version the instances reported; empty when they reported none.
    public var version: String
    /// Feature names, sorted, each once.
    public var features: [String]
    /// API group/versions (and resources), sorted, each once; `group/version[/resource]`.
    public var apis: [String]
    /// The revision that recorded this content.
    public var revision: Revision

    public init(component: String, version: String, features: [String], apis: [APIRef], revision: Revision = .zero) {
        self.component = component
        self.version = version
        self.features = Array(Set(features)).sorted()
        self.apis = Array(Set(apis)).sorted().map(\.description)
        self.revision = revision
    }

    public var key: ComponentBuildKey { ComponentBuildKey(component: self.component, version: self.version) }

    /// Whether two records say the same, whatever revision recorded them.
    public func knowsTheSame(as other: ComponentBuild) -> Bool {
        self.features == other.features && self.apis == other.apis
    }
}

/// A component build: component and version.
public struct ComponentBuildKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var component: String
    public var version: String

    public init(component: String, version: String) {
        self.component = component
        self.version = version
    }

    /// `kubelet@1.31.0` (`kubelet@` without a version): the store key.
    public var description: String { "\(self.component)@\(self.version)" }

    public static func < (lhs: ComponentBuildKey, rhs: ComponentBuildKey) -> Bool {
        (lhs.component, lhs.version) < (rhs.component, rhs.version)
    }
}

extension GateState {
    /// The builds whose binary knows `feature`, sorted by component then version.
    public func builds(knowing feature: String) -> [ComponentBuildKey] {
        self.builds.values.filter { $0.features.contains(feature) }.map(\.key).sorted()
    }
}
