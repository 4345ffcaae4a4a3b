import GatehouseCore

/// A small catalog that exercises every rule, and helpers to drive the applier in tests.
enum Fixtures {
    static let kubelet = "kubelet"
    static let controllerManager = "kube-controller-manager"

    static let parameterized = FeatureDefinition(
        name: "D",
        stage: .beta,
        defaultEnabled: true,
        parameters: [
            ParameterSpec(name: "n", kind: .int(default: 5, min: 0, max: 10)),
            ParameterSpec(name: "s", kind: .string(default: "abc", regex: "[a-z]+")),
            ParameterSpec(name: "m", kind: .enumeration(default: "safe", values: ["fast", "safe"])),
            ParameterSpec(name: "t", kind: .duration(defaultMs: 1000, minMs: 100, maxMs: 5000)),
            ParameterSpec(name: "b", kind: .bool(default: false)),
        ]
    )

    static let catalog = Catalog(
        features: [
            FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false, dependencies: ["B"]),
            FeatureDefinition(name: "B", stage: .beta, defaultEnabled: false),
            FeatureDefinition(name: "C", stage: .ga, defaultEnabled: true, lockToDefault: true),
            parameterized,
            FeatureDefinition(name: "E", stage: .beta, defaultEnabled: true, dependencies: ["F"]),
            FeatureDefinition(name: "F", stage: .beta, defaultEnabled: true),
            FeatureDefinition(name: "K", components: [kubelet], stage: .alpha, defaultEnabled: false,
                              minimumVersions: [kubelet: Version(1, 31)]),
            FeatureDefinition(name: "L", stage: .ga, defaultEnabled: true, lockToDefault: true, dependencies: ["F"]),
        ],
        apis: [
            APIDefinition(APIRef(group: "batch", version: "v1"), stage: .ga),
            APIDefinition(APIRef(group: "batch", version: "v1beta1"), stage: .beta),
            APIDefinition(APIRef(group: "apps", version: "v1"), stage: .ga),
            APIDefinition(APIRef(group: "apps", version: "v1", resource: "deployments"), stage: .ga),
            APIDefinition(APIRef(group: "resource.k8s.io", version: "v1alpha3"), stage: .alpha),
            APIDefinition(APIRef(group: "extensions", version: "v1beta1"), stage: .deprecated),
            APIDefinition(APIRef(group: "policy", version: "v1beta1"), stage: .beta, defaultEnabled: true),
        ]
    )

    static let time = UnixMilliseconds(1_700_000_000_000)

    /// Components the tests write overrides for besides kubelet (which `K` names): registered,
    /// so the applier knows them (an override for a component it does not know is refused).
    static let registeredComponents = [controllerManager, "kube-apiserver", "kube-proxy", "kube-scheduler", "anything"]

    /// The fixture catalog imported at revision 1.
    static var state: GateState {
        try! BatchApplier().apply(.importing(catalog, actor: "admin"), to: GateState(), at: time, liveInstances: []).state
    }

    /// ``state`` with a build of each of `registeredComponents` recorded in the same batch (still revision 1).
    static var registeredState: GateState {
        var batch = ChangeBatch.importing(catalog, actor: "admin")
        batch.changes += registeredComponents.map { .recordBuild(ComponentBuild(component: $0, version: "1.31.0", features: [], apis: [])) }
        return try! BatchApplier().apply(batch, to: GateState(), at: time, liveInstances: []).state
    }

    static func node(_ id: String, _ version: Version? = Version(1, 31, 2), component: String = kubelet) -> InstanceRef {
        InstanceRef(component: component, instanceID: id, version: version)
    }

    /// Applies `changes` as one batch by `alice`.
    static func apply(
        _ changes: [Change],
        to state: GateState,
        live: [InstanceRef] = [],
        expected: Revision? = nil
    ) throws(GateError) -> GateState {
        try BatchApplier().apply(
            ChangeBatch(changes: changes, expectedRevision: expected, reason: "test", actor: "alice"),
            to: state,
            at: time,
            liveInstances: live
        ).state
    }

    /// The error `changes` are refused with, or nil when they are accepted.
    static func refusal(_ changes: [Change], to state: GateState, live: [InstanceRef] = [], expected: Revision? = nil) -> GateError? {
        do {
            _ = try apply(changes, to: state, live: live, expected: expected)
            return nil
        } catch {
            return error
        }
    }
}
