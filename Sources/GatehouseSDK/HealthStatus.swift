import Foundation
import GatehouseProto

/// The application's own verdict on itself, as a rollout counts it.
///
/// A canary rollout widens only while its canaries stay healthy, and rolls
/// back when too many report otherwise. Blaming entries narrows the verdict:
/// an unhealthy report that names features or APIs counts against rollouts of
/// those only; one that names nothing counts against every rollout the
/// instance is a canary of.
public struct HealthStatus: Hashable, Sendable {
    /// False when the application's check fails.
    public var isHealthy: Bool
    /// For people, e.g. "readiness probe failing: 3 of 5 handlers erroring".
    public var message: String
    /// Feature names or APIs (`group/version[/resource]`) the application
    /// blames; empty blames the instance as a whole.
    public var blamedEntries: [String]

    public init(isHealthy: Bool, message: String = "", blaming blamedEntries: [String] = []) {
        self.isHealthy = isHealthy
        self.message = message
        self.blamedEntries = blamedEntries
    }

    /// Healthy, with an optional note.
    public static func healthy(_ message: String = "") -> HealthStatus {
        HealthStatus(isHealthy: true, message: message)
    }

    /// Unhealthy because of `message`, blaming `entries` (none: the instance as a whole).
    public static func unhealthy(_ message: String, blaming entries: [String] = []) -> HealthStatus {
        HealthStatus(isHealthy: false, message: message, blaming: entries)
    }
}

/// A health status with the wall-clock time it was established on this instance.
struct HealthReading: Hashable, Sendable {
    var status: HealthStatus
    /// Unix milliseconds, the instance's clock: informational, for people comparing timelines.
    var checkedAtUnixMilliseconds: Int64

    init(_ status: HealthStatus, at date: Date = Date()) {
        self.status = status
        self.checkedAtUnixMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    var wire: Gatehouse_V1_HealthReport {
        .with {
            $0.healthy = self.status.isHealthy
            $0.message = self.status.message
            $0.entries = self.status.blamedEntries
            $0.checkedAtUnixMs = self.checkedAtUnixMilliseconds
        }
    }
}
