import GatehouseCore

/// The in-code twin of `Examples/kubernetes-catalog.yaml`: Kubernetes' own gates and APIs, around v1.32.
///
/// The YAML file is rendered from this value (`ExampleCatalogTests`), so the
/// two cannot drift; the core tests validate and resolve this value, and the
/// server's tests decode the YAML with Yams. Stages and defaults are typed in
/// from the public feature-gate reference; the parameters on
/// `SchedulerQueueingHints` and `GracefulNodeShutdown` are made up for the example.
enum KubernetesCatalog {
    static let apiserver = "kube-apiserver"
    static let scheduler = "kube-scheduler"
    static let controllerManager = "kube-controller-manager"
    static let kubelet = "kubelet"
    static let proxy = "kube-proxy"

    static let controlPlane = [apiserver, controllerManager, scheduler]

    private static func gate(
        _ name: String,
        _ stage: Stage,
        _ defaultEnabled: Bool,
        locked: Bool = false,
        _ components: [String],
        _ description: String,
        needs: [String] = [],
        minimum: [String: Version] = [:],
        parameters: [ParameterSpec] = []
    ) -> FeatureDefinition {
        FeatureDefinition(
            name: name,
            components: components,
            stage: stage,
            defaultEnabled: defaultEnabled,
            lockToDefault: locked,
            description: description,
            dependencies: needs,
            minimumVersions: minimum,
            parameters: parameters
        )
    }

    static let features: [FeatureDefinition] = [
        // Pods and nodes
        gate("InPlacePodVerticalScaling", .alpha, false, [apiserver, scheduler, kubelet], "Change a running pod's CPU and memory requests and limits without restarting it.",
             minimum: [kubelet: Version(1, 27)]),
        gate("SidecarContainers", .beta, true, [apiserver, scheduler, kubelet], "Restartable init containers that run beside the main containers (native sidecars)."),
        gate("PodReadyToStartContainersCondition", .beta, true, [kubelet], "The PodReadyToStartContainers condition, set once the pod sandbox is ready."),
        gate("PodSchedulingReadiness", .ga, true, locked: true, [apiserver, scheduler], "schedulingGates on pods: hold a pod back from scheduling."),
        gate("PodDisruptionConditions", .ga, true, locked: true, [apiserver, controllerManager, kubelet], "The DisruptionTarget pod condition."),
        gate("PodLifecycleSleepAction", .beta, true, [apiserver, kubelet], "The sleep action for container lifecycle hooks."),
        gate("PodLifecycleSleepActionAllowZero", .alpha, false, [apiserver, kubelet], "Allow a zero-second sleep in lifecycle hooks.",
             needs: ["PodLifecycleSleepAction"]),
        gate("PodIndexLabel", .beta, true, [apiserver, controllerManager], "Label Job and StatefulSet pods with their index."),
        gate("PodLevelResources", .alpha, false, [apiserver, scheduler, kubelet], "Resource requests and limits for a whole pod."),
        gate("SizeMemoryBackedVolumes", .beta, true, [kubelet], "Size memory-backed emptyDir volumes by the pod's memory limit."),
        gate("RecursiveReadOnlyMounts", .beta, true, [apiserver, kubelet], "Recursively read-only volume mounts."),
        gate("ImageMaximumGCAge", .beta, true, [kubelet], "Garbage-collect images unused for longer than a maximum age."),
        gate("KubeletCgroupDriverFromCRI", .beta, true, [kubelet], "Take the cgroup driver from the container runtime."),
        gate("KubeletSeparateDiskGC", .beta, true, [kubelet], "Garbage collection for split image filesystems."),
        gate("KubeletTracing", .beta, true, [kubelet], "OpenTelemetry traces from the kubelet."),
        gate("KubeletInUserNamespace", .alpha, false, [kubelet], "Run the kubelet in a user namespace (rootless)."),
        gate("UserNamespacesSupport", .beta, false, [apiserver, kubelet], "Run pods in their own user namespace (hostUsers: false)."),
        gate("ProcMountType", .beta, false, [apiserver, kubelet], "Control the /proc mount type of containers (Unmasked needs user namespaces).",
             needs: ["UserNamespacesSupport"]),
        gate("GracefulNodeShutdown", .beta, true, [kubelet], "Terminate pods gracefully when the node shuts down.",
             parameters: [
                 ParameterSpec(name: "shutdown_grace_period", kind: .duration(defaultMs: 30_000, minMs: 0, maxMs: 600_000),
                               description: "Example parameter: total time the node delays shutdown for pods."),
             ]),
        gate("GracefulNodeShutdownBasedOnPodPriority", .beta, true, [kubelet], "Shut pods down in order of their priority class.",
             needs: ["GracefulNodeShutdown"]),
        gate("MemoryManager", .beta, true, [kubelet], "NUMA-aware memory allocation for guaranteed pods."),
        gate("CPUManagerPolicyOptions", .beta, true, [kubelet], "Fine-tuning options for the CPU manager policies."),
        gate("CPUManagerPolicyBetaOptions", .beta, true, [kubelet], "Beta-quality CPU manager policy options.", needs: ["CPUManagerPolicyOptions"]),
        gate("CPUManagerPolicyAlphaOptions", .alpha, false, [kubelet], "Alpha-quality CPU manager policy options.", needs: ["CPUManagerPolicyOptions"]),
        gate("TopologyManagerPolicyOptions", .ga, true, locked: true, [kubelet], "Fine-tuning options for the topology manager."),
        gate("NodeLogQuery", .beta, false, [kubelet], "Query node logs through the /logs endpoint."),
        gate("DisableCloudProviders", .ga, true, locked: true, [apiserver, controllerManager, kubelet], "Turn off the in-tree cloud providers."),
        gate("DisableKubeletCloudCredentialProviders", .ga, true, locked: true, [kubelet], "Turn off the kubelet's in-tree cloud credential providers."),
        gate("SELinuxMountReadWriteOncePod", .beta, true, [apiserver, kubelet], "Mount ReadWriteOncePod volumes with the right SELinux label instead of relabelling."),
        gate("SELinuxMount", .alpha, false, [apiserver, kubelet], "SELinux mount labelling for every volume type.", needs: ["SELinuxMountReadWriteOncePod"]),
        // Scheduling
        gate("SchedulerQueueingHints", .beta, true, [scheduler], "Requeue unschedulable pods only when a relevant cluster event happens.",
             parameters: [
                 ParameterSpec(name: "max_backoff", kind: .duration(defaultMs: 10_000, minMs: 1_000, maxMs: 60_000),
                               description: "Example parameter: longest backoff for a requeued pod."),
                 ParameterSpec(name: "batch_size", kind: .int(default: 100, min: 1, max: 10_000),
                               description: "Example parameter: events handled per queue flush."),
                 ParameterSpec(name: "mode", kind: .enumeration(default: "hints", values: ["hints", "legacy"]),
                               description: "Example parameter: how pods are requeued."),
             ]),
        gate("MatchLabelKeysInPodTopologySpread", .beta, true, [apiserver, scheduler], "matchLabelKeys in topology spread constraints."),
        gate("MatchLabelKeysInPodAffinity", .beta, true, [apiserver, scheduler], "matchLabelKeys and mismatchLabelKeys in pod (anti-)affinity."),
        gate("NodeInclusionPolicyInPodTopologySpread", .beta, true, [apiserver, scheduler], "nodeAffinityPolicy and nodeTaintsPolicy in topology spread."),
        gate("MinDomainsInPodTopologySpread", .ga, true, locked: true, [apiserver, scheduler], "minDomains in topology spread constraints."),
        gate("SchedulerAsyncPreemption", .alpha, false, [scheduler], "Run the API calls of preemption asynchronously."),
        // Dynamic resource allocation
        gate("DynamicResourceAllocation", .beta, false, [apiserver, controllerManager, scheduler, kubelet], "Dynamic resource allocation (DRA) with structured parameters.",
             minimum: [kubelet: Version(1, 32), scheduler: Version(1, 32)]),
        gate("DRAAdminAccess", .alpha, false, [apiserver, controllerManager, scheduler, kubelet], "Admin access to devices already in use.",
             needs: ["DynamicResourceAllocation"]),
        gate("DRAResourceClaimDeviceStatus", .alpha, false, [apiserver], "Drivers report device status in ResourceClaims.",
             needs: ["DynamicResourceAllocation"]),
        // Workloads
        gate("JobPodFailurePolicy", .ga, true, locked: true, [apiserver, controllerManager], "Pod failure policies for Jobs."),
        gate("JobBackoffLimitPerIndex", .beta, true, [apiserver, controllerManager], "Per-index backoff limits for indexed Jobs."),
        gate("JobManagedBy", .beta, true, [apiserver, controllerManager], "Delegate Job reconciliation to an external controller (managedBy)."),
        gate("JobSuccessPolicy", .beta, true, [apiserver, controllerManager], "Success policies for indexed Jobs."),
        gate("ElasticIndexedJob", .ga, true, locked: true, [apiserver, controllerManager], "Scale indexed Jobs by changing completions and parallelism together."),
        gate("StatefulSetAutoDeletePVC", .ga, true, locked: true, [apiserver, controllerManager], "Delete a StatefulSet's PVCs with it (persistentVolumeClaimRetentionPolicy)."),
        gate("StatefulSetStartOrdinal", .ga, true, locked: true, [apiserver, controllerManager], "Start StatefulSet ordinals at a number other than zero."),
        gate("CronJobsScheduledAnnotation", .beta, true, [controllerManager], "Record the scheduled time on Jobs created by a CronJob."),
        gate("HPAScaleToZero", .alpha, false, [apiserver, controllerManager], "Let the HorizontalPodAutoscaler scale to zero on object or external metrics."),
        gate("SeparateTaintEvictionController", .beta, true, [controllerManager], "Run taint-based eviction as its own controller."),
        gate("RetryGenerateName", .ga, true, locked: true, [apiserver], "Retry creation when a generated name collides."),
        // Storage
        gate("RecoverVolumeExpansionFailure", .beta, true, [apiserver, controllerManager, kubelet], "Retry a failed volume expansion with a smaller size."),
        gate("VolumeAttributesClass", .beta, false, [apiserver, controllerManager], "Change volume attributes (IOPS, throughput) through VolumeAttributesClass."),
        gate("ReadWriteOncePod", .ga, true, locked: true, [apiserver, scheduler, kubelet], "The ReadWriteOncePod access mode."),
        gate("HonorPVReclaimPolicy", .beta, true, [controllerManager], "Honour the reclaim policy whatever the order of PV and PVC deletion."),
        // Networking
        gate("ServiceTrafficDistribution", .beta, true, [apiserver, proxy], "The trafficDistribution field of Services."),
        gate("MultiCIDRServiceAllocator", .beta, false, [apiserver], "Service IP allocation from ServiceCIDR objects."),
        gate("LoadBalancerIPMode", .beta, true, [apiserver, proxy], "The ipMode field of a load balancer's ingress status."),
        gate("NFTablesProxyMode", .beta, true, [proxy], "The nftables mode of kube-proxy."),
        gate("KubeProxyDrainingTerminatingNodes", .ga, true, locked: true, [proxy], "Drain connections on terminating nodes for externalTrafficPolicy: Cluster."),
        // API server
        gate("APIServerIdentity", .beta, true, [apiserver], "A Lease per kube-apiserver identifying it."),
        gate("StorageVersionAPI", .alpha, false, [apiserver], "The storage version API (internal.apiserver.k8s.io).", needs: ["APIServerIdentity"]),
        gate("APIServerTracing", .beta, true, [apiserver], "OpenTelemetry traces from kube-apiserver."),
        gate("APIListChunking", .ga, true, locked: true, [apiserver], "Paged LIST requests (limit and continue)."),
        gate("ConsistentListFromCache", .beta, true, [apiserver], "Serve consistent LIST requests from the watch cache."),
        gate("ResilientWatchCacheInitialization", .beta, true, [apiserver], "Keep serving while the watch cache initialises."),
        gate("ValidatingAdmissionPolicy", .ga, true, locked: true, [apiserver], "CEL-based validating admission policies."),
        gate("MutatingAdmissionPolicy", .alpha, false, [apiserver], "CEL-based mutating admission policies."),
        gate("StructuredAuthenticationConfiguration", .beta, true, [apiserver], "Authentication configured from a structured file."),
        gate("StructuredAuthorizationConfiguration", .ga, true, locked: true, [apiserver], "Authorization chains configured from a structured file."),
        gate("AnonymousAuthConfigurableEndpoints", .beta, true, [apiserver], "Allow anonymous requests only to listed endpoints."),
        gate("AuthorizeWithSelectors", .beta, true, [apiserver], "Field and label selectors in authorization decisions."),
        gate("AuthorizeNodeWithSelectors", .beta, true, [apiserver], "The node authorizer uses selectors to narrow what a kubelet may read.",
             needs: ["AuthorizeWithSelectors"]),
        gate("CustomResourceFieldSelectors", .ga, true, locked: true, [apiserver], "Field selectors on custom resources."),
        gate("KMSv1", .deprecated, false, [apiserver], "The deprecated KMS v1 encryption provider."),
        gate("KMSv2", .ga, true, locked: true, [apiserver], "The KMS v2 encryption provider."),
        gate("KMSv2KDF", .ga, true, locked: true, [apiserver], "KMS v2 derives data encryption keys with a KDF."),
        gate("ServiceAccountTokenJTI", .ga, true, locked: true, [apiserver], "A jti claim in service account tokens."),
        gate("ServiceAccountTokenNodeBinding", .beta, true, [apiserver], "Service account tokens bound to a Node."),
        gate("ServiceAccountTokenPodNodeInfo", .ga, true, locked: true, [apiserver], "The node name and uid in pod-bound tokens."),
        gate("LegacyServiceAccountTokenCleanUp", .ga, true, locked: true, [controllerManager], "Remove unused auto-generated service account token secrets."),
        gate("PortForwardWebsockets", .beta, true, [apiserver, kubelet], "Port forwarding over WebSockets."),
        gate("TranslateStreamCloseWebsocketRequests", .beta, true, [apiserver], "Exec, attach and cp over WebSockets (RemoteCommand v5)."),
        gate("CoordinatedLeaderElection", .alpha, false, [apiserver, controllerManager, scheduler], "Leader election coordinated by the API server (LeaseCandidate)."),
        // Every component
        gate("ComponentSLIs", .beta, true, [], "The /metrics/slis endpoint on every component."),
        gate("ContextualLogging", .beta, true, [], "Contextual logging in components that support it."),
        gate("LoggingBetaOptions", .beta, true, [], "Beta-quality logging options (e.g. split JSON streams)."),
        gate("LoggingAlphaOptions", .alpha, false, [], "Alpha-quality logging options."),
    ]

    static let apis: [APIDefinition] = [
        APIDefinition(APIRef(group: "", version: "v1"), stage: .ga, components: [apiserver], description: "The core group."),
        APIDefinition(APIRef(group: "apps", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "apps", version: "v1", resource: "deployments"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "apps", version: "v1", resource: "daemonsets"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "apps", version: "v1", resource: "statefulsets"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "batch", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "batch", version: "v1beta1"), stage: .deprecated, defaultEnabled: false, components: [apiserver],
                      description: "CronJob v1beta1; removed in 1.25, kept to show a removed API (off)."),
        APIDefinition(APIRef(group: "autoscaling", version: "v2"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "autoscaling", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "policy", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "networking.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "networking.k8s.io", version: "v1beta1"), stage: .beta, components: [apiserver],
                      description: "IPAddress and ServiceCIDR (MultiCIDRServiceAllocator)."),
        APIDefinition(APIRef(group: "storage.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "storage.k8s.io", version: "v1beta1"), stage: .beta, components: [apiserver],
                      description: "VolumeAttributesClass."),
        APIDefinition(APIRef(group: "storage.k8s.io", version: "v1alpha1"), stage: .alpha, components: [apiserver]),
        APIDefinition(APIRef(group: "resource.k8s.io", version: "v1alpha3"), stage: .alpha, components: [apiserver], description: "DRA, as of 1.31."),
        APIDefinition(APIRef(group: "resource.k8s.io", version: "v1beta1"), stage: .beta, components: [apiserver], description: "DRA, as of 1.32."),
        APIDefinition(APIRef(group: "flowcontrol.apiserver.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "flowcontrol.apiserver.k8s.io", version: "v1beta3"), stage: .deprecated, components: [apiserver]),
        APIDefinition(APIRef(group: "admissionregistration.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "admissionregistration.k8s.io", version: "v1beta1"), stage: .beta, components: [apiserver]),
        APIDefinition(APIRef(group: "admissionregistration.k8s.io", version: "v1alpha1"), stage: .alpha, components: [apiserver],
                      description: "MutatingAdmissionPolicy (1.32)."),
        APIDefinition(APIRef(group: "certificates.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "certificates.k8s.io", version: "v1alpha1"), stage: .alpha, components: [apiserver], description: "ClusterTrustBundle."),
        APIDefinition(APIRef(group: "coordination.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "coordination.k8s.io", version: "v1alpha2"), stage: .alpha, components: [apiserver], description: "LeaseCandidate."),
        APIDefinition(APIRef(group: "internal.apiserver.k8s.io", version: "v1alpha1"), stage: .alpha, components: [apiserver], description: "StorageVersion."),
        APIDefinition(APIRef(group: "authentication.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "rbac.authorization.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "discovery.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "scheduling.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "node.k8s.io", version: "v1"), stage: .ga, components: [apiserver]),
        APIDefinition(APIRef(group: "storagemigration.k8s.io", version: "v1alpha1"), stage: .alpha, components: [apiserver]),
    ]

    static let catalog = Catalog(features: features, apis: apis)
}
