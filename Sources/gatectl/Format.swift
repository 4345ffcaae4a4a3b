import Foundation
import GatehouseClient

/// How wire values read in tables: short, the way they are typed on the command line.
enum Format {
    /// `alpha`, `beta`, `ga`, `deprecated`.
    static func stage(_ stage: Gatehouse_V1_Stage) -> String {
        switch stage {
        case .alpha: "alpha"
        case .beta: "beta"
        case .ga: "ga"
        case .deprecated: "deprecated"
        case .unspecified: "-"
        case .UNRECOGNIZED(let value): "stage(\(value))"
        }
    }

    /// `global`, `component kubelet`, `instance kubelet/node-17`.
    static func scope(_ scope: Gatehouse_V1_Scope) -> String {
        switch scope.scope {
        case .global, nil: "global"
        case .component(let component): "component \(component.component)"
        case .instance(let instance): "instance \(instance.component)/\(instance.instanceID)"
        }
    }

    /// `batch/v1beta1`, `apps/v1/deployments`, `v1` for the core group.
    static func api(_ ref: Gatehouse_V1_ApiRef) -> String {
        [ref.group, ref.version, ref.resource].filter { !$0.isEmpty }.joined(separator: "/")
    }

    /// `batch/v1beta1`, `apps/v1/deployments`, `v1` for the core group.
    static func api(_ api: Gatehouse_V1_Api) -> String {
        [api.group, api.version, api.resource].filter { !$0.isEmpty }.joined(separator: "/")
    }

    /// The `--runtime-config` spelling of a selector: `api/all`, `api/beta`, `batch/v1`.
    static func selector(_ selector: Gatehouse_V1_ApiSelector) -> String {
        switch selector.selector {
        case .all: "api/all"
        case .stage(let stage): "api/\(Self.stage(stage))"
        case .api(let ref): Self.api(ref)
        case nil: "-"
        }
    }

    /// `true`, `42`, `"abc"`, `fast`, `30s`.
    static func value(_ value: Gatehouse_V1_ParameterValue) -> String {
        switch value.value {
        case .boolValue(let bool): String(bool)
        case .intValue(let int): String(int)
        case .stringValue(let string): "\"\(string)\""
        case .enumValue(let string): string
        case .durationMs(let ms): Self.duration(ms)
        case nil: "-"
        }
    }

    /// Milliseconds in the largest unit that divides them: `2h`, `90s`, `250ms`.
    static func duration(_ ms: Int64) -> String {
        if ms == 0 { return "0s" }
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms % size == 0 {
            return "\(ms / size)\(unit)"
        }
        return "\(ms)ms"
    }

    /// `a=1, b=30s`, sorted by name; `-` when empty.
    static func params(_ params: [String: Gatehouse_V1_ParameterValue]) -> String {
        params.isEmpty ? "-" : params.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.value($0.value))" }.joined(separator: ", ")
    }

    /// A parameter's type, bounds and default: `duration 1s..1m default 10s`.
    static func spec(_ spec: Gatehouse_V1_ParameterSpec) -> (type: String, constraint: String, defaultValue: String) {
        switch spec.kind {
        case .boolParam(let param):
            return ("bool", "-", String(param.defaultValue))
        case .intParam(let param):
            let min = param.minPresent.map { switch $0 { case .min(let value): String(value) } } ?? ""
            let max = param.maxPresent.map { switch $0 { case .max(let value): String(value) } } ?? ""
            return ("int", min.isEmpty && max.isEmpty ? "-" : "\(min)..\(max)", String(param.defaultValue))
        case .stringParam(let param):
            return ("string", param.regex.isEmpty ? "-" : "/\(param.regex)/", "\"\(param.defaultValue)\"")
        case .enumParam(let param):
            return ("enum", param.values.joined(separator: "|"), param.defaultValue)
        case .durationParam(let param):
            let min = param.minMsPresent.map { switch $0 { case .minMs(let value): Self.duration(value) } } ?? ""
            let max = param.maxMsPresent.map { switch $0 { case .maxMs(let value): Self.duration(value) } } ?? ""
            return ("duration", min.isEmpty && max.isEmpty ? "-" : "\(min)..\(max)", Self.duration(param.defaultMs))
        case nil:
            return ("-", "-", "-")
        }
    }

    /// `on` / `off`; a missing value (an override that only sets parameters) is `-`.
    static func enabled(_ enabled: Bool?) -> String {
        enabled.map { $0 ? "on" : "off" } ?? "-"
    }

    /// Comma-separated, or `all` when empty (a definition with no components applies to all).
    static func components(_ components: [String]) -> String {
        components.isEmpty ? "all" : components.joined(separator: ",")
    }

    /// ISO 8601 in UTC, to the second.
    static func time(unixMs: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(unixMs) / 1000))
    }

    /// `Features/Set` from `/gatehouse.v1.Features/Set`.
    static func method(_ path: String) -> String {
        let parts = path.split(separator: "/")
        guard parts.count == 2, let service = parts[0].split(separator: ".").last else { return path }
        return "\(service)/\(parts[1])"
    }

    /// A table, or `message` when there are no rows.
    static func table(header: [String], rows: [[String]], empty message: String) -> String {
        rows.isEmpty ? message + "\n" : Printer.table(header: header, rows: rows)
    }
}
