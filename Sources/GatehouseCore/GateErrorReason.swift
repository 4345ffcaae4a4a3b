extension GateError {
    /// Every cause of refusal, as `gatehouse.v1.ErrorDetails.reason` carries it.
    ///
    /// One closed list, so PROTOCOL.md's table of reasons can be checked
    /// against it (a test reads the table) and a client can rely on it: each
    /// reason always travels with the same status code and at most the
    /// metadata keys listed here.
    public enum Reason: String, Hashable, Sendable, CaseIterable, Codable {
        case emptyBatch = "EMPTY_BATCH"
        case emptyChange = "EMPTY_CHANGE"
        case invalidAPI = "INVALID_API"
        case invalidCatalog = "INVALID_CATALOG"
        case invalidField = "INVALID_FIELD"
        case invalidName = "INVALID_NAME"
        case invalidParameter = "INVALID_PARAMETER"
        case invalidReason = "INVALID_REASON"
        case invalidScope = "INVALID_SCOPE"
        case invalidVersion = "INVALID_VERSION"
        case malformedFlag = "MALFORMED_FLAG"
        case notApplicable = "NOT_APPLICABLE"
        case unknownParameter = "UNKNOWN_PARAMETER"
        case unknownFeature = "UNKNOWN_FEATURE"
        case unknownAPI = "UNKNOWN_API"
        case unknownComponent = "UNKNOWN_COMPONENT"
        case lockedGate = "LOCKED_GATE"
        case unmetDependency = "UNMET_DEPENDENCY"
        case dependentsEnabled = "DEPENDENTS_ENABLED"
        case versionSkew = "VERSION_SKEW"
        case staleRevision = "STALE_REVISION"
        case missingVersion = "MISSING_VERSION"
        case invalidLabel = "INVALID_LABEL"
        case tooLong = "TOO_LONG"
        case tooMany = "TOO_MANY"
        case reasonTooLong = "REASON_TOO_LONG"
        case tooManyChanges = "TOO_MANY_CHANGES"
        case auditEntryTooLarge = "AUDIT_ENTRY_TOO_LARGE"
        case tooManyInstances = "TOO_MANY_INSTANCES"
        case invalidPageToken = "INVALID_PAGE_TOKEN"
        case invalidRollout = "INVALID_ROLLOUT"
        case rolloutExists = "ROLLOUT_EXISTS"
        case rolloutConflict = "ROLLOUT_CONFLICT"
        case rolloutMasked = "ROLLOUT_MASKED"
        case rolloutState = "ROLLOUT_STATE"
        case rolloutNotFound = "ROLLOUT_NOT_FOUND"
        case prepareRefused = "PREPARE_REFUSED"
        case prepareTimeout = "PREPARE_TIMEOUT"
        case activationInProgress = "ACTIVATION_IN_PROGRESS"

        /// The status a refusal for this reason always has.
        public var code: Code {
            switch self {
            case .emptyBatch, .emptyChange, .invalidAPI, .invalidCatalog, .invalidField, .invalidName, .invalidParameter,
                .invalidReason, .invalidScope, .invalidVersion, .malformedFlag, .notApplicable, .unknownParameter,
                .missingVersion, .invalidLabel, .tooLong, .tooMany, .reasonTooLong, .tooManyChanges, .auditEntryTooLarge,
                .invalidPageToken, .invalidRollout:
                .invalidArgument
            case .tooManyInstances:
                .resourceExhausted
            case .unknownFeature, .unknownAPI, .unknownComponent, .rolloutNotFound:
                .notFound
            case .lockedGate, .unmetDependency, .dependentsEnabled, .versionSkew, .rolloutConflict, .rolloutMasked, .rolloutState,
                .activationInProgress:
                .failedPrecondition
            case .rolloutExists:
                .alreadyExists
            case .staleRevision, .prepareRefused, .prepareTimeout:
                .aborted
            }
        }

        /// The metadata keys a refusal for this reason may carry (a key is left out when it does not apply).
        public var metadataKeys: [String] {
            switch self {
            case .emptyBatch, .invalidName, .invalidReason: []
            case .emptyChange, .unknownFeature: ["feature"]
            case .invalidAPI: ["api"]
            case .unknownAPI: ["api", "scope"]
            case .unknownComponent: ["component", "scope"]
            case .invalidCatalog: ["problems", "first_problem"]
            case .invalidField: ["field"]
            case .invalidParameter: ["feature", "parameter", "value"]
            case .invalidScope: ["scope"]
            case .invalidVersion: ["version"]
            case .malformedFlag: ["flag", "entry"]
            case .notApplicable: ["feature", "scope", "component"]
            case .unknownParameter: ["feature", "scope", "parameter"]
            case .lockedGate: ["feature", "scope"]
            case .unmetDependency, .dependentsEnabled: ["feature", "scope", "dependency"]
            case .versionSkew: ["feature", "scope", "minimum_version", "version"]
            case .staleRevision: ["expected_revision", "current_revision"]
            case .missingVersion, .invalidPageToken: []
            case .invalidLabel: ["label"]
            case .tooLong, .reasonTooLong, .auditEntryTooLarge: ["octets", "limit"]
            case .tooMany: ["count", "limit"]
            case .tooManyChanges: ["changes", "limit"]
            case .tooManyInstances: ["component", "limit", "retry_after_ms"]
            case .invalidRollout: ["rollout", "field"]
            case .rolloutExists, .rolloutNotFound: ["rollout"]
            case .rolloutConflict: ["rollout", "component", "existing"]
            case .rolloutMasked: ["rollout", "scope", "target"]
            case .rolloutState: ["rollout", "phase"]
            case .prepareRefused, .prepareTimeout: ["api", "component", "replicas"]
            case .activationInProgress: ["component", "api"]
            }
        }
    }
}
