/// What an API override selects, as in Kubernetes' `--runtime-config` keys.
///
/// `api/all`, `api/alpha`, `api/beta`, `api/ga` (and `api/deprecated`), a
/// group/version, or one resource. Within one scope the most specific
/// matching selector decides (`specificity`): resource > group/version >
/// stage > all.
public enum APISelector: Hashable, Sendable {
    case all
    case stage(Stage)
    case groupVersion(APIGroupVersion)
    /// One resource: `ref.resource` is never nil here.
    case resource(APIRef)

    /// Selects `ref`: a group/version when it has no resource, else the resource.
    public static func api(_ ref: APIRef) -> APISelector {
        ref.resource == nil ? .groupVersion(ref.groupVersion) : .resource(ref)
    }

    /// Higher wins within one scope: all 0, stage 1, group/version 2, resource 3.
    public var specificity: Int {
        switch self {
        case .all: 0
        case .stage: 1
        case .groupVersion: 2
        case .resource: 3
        }
    }

    /// Whether this selector covers `api`.
    ///
    /// A group/version selector also covers the resources in it (as
    /// `batch/v1=false` turns off every resource of batch/v1 in Kubernetes); a
    /// resource selector covers only that resource.
    public func matches(_ api: APIDefinition) -> Bool {
        switch self {
        case .all: true
        case .stage(let stage): api.stage == stage
        case .groupVersion(let groupVersion): api.ref.groupVersion == groupVersion
        case .resource(let ref): api.ref == ref
        }
    }

    /// The selectors that could match `api`, most specific first: what the resolver looks up.
    static func candidates(for api: APIDefinition) -> [APISelector] {
        var result: [APISelector] = []
        if api.ref.resource != nil { result.append(.resource(api.ref)) }
        result.append(.groupVersion(api.ref.groupVersion))
        result.append(.stage(api.stage))
        result.append(.all)
        return result
    }

    /// Parses `api/all`, `api/alpha`, `api/beta`, `api/ga`, `api/deprecated`, or an API (`batch/v1`, `apps/v1/deployments`).
    public init(parsing text: String) throws(GateError) {
        switch text {
        case "api/all":
            self = .all
            return
        case "api/legacy":
            // Kubernetes' old alias for the core group's v1.
            self = .groupVersion(APIGroupVersion(group: "", version: "v1"))
            return
        default:
            break
        }
        if text.hasPrefix("api/"), let stage = Stage(rawValue: String(text.dropFirst(4))) {
            self = .stage(stage)
            return
        }
        self = .api(try APIRef(parsing: text))
    }
}

extension APISelector: CustomStringConvertible {
    /// The `--runtime-config` spelling: `api/all`, `api/beta`, `batch/v1`, `apps/v1/deployments`.
    public var description: String {
        switch self {
        case .all: "api/all"
        case .stage(let stage): "api/\(stage.rawValue)"
        case .groupVersion(let groupVersion): groupVersion.description
        case .resource(let ref): ref.description
        }
    }
}

extension APISelector: TextCodable {
    public var text: String { self.description }
}
