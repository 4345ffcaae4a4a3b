/// When one subscription sends the health report: a value, so the rules are tested without a stream.
///
/// The server keeps only the latest report per instance, and takes a canary
/// that stopped reporting unhealthy for one that recovered only when it says
/// so. So a subscription sends the latest reading once when it opens (the
/// server may be a different one, or restarted), again whenever the status
/// changes, and repeats an unhealthy one every `repeatInterval` (the
/// server's heartbeat interval) so a rollout never judges on a stale verdict.
/// A healthy status is not repeated: silence after a healthy report means
/// nothing changed.
struct HealthSchedule {
    let repeatInterval: Duration
    private(set) var sent: HealthStatus?
    private(set) var sentAt: Duration?

    init(repeatInterval: Duration) {
        self.repeatInterval = repeatInterval
    }

    /// The reading to send now, if any; records it as sent.
    mutating func due(_ latest: HealthReading?, now: Duration) -> HealthReading? {
        guard let latest else { return nil }
        let isDue: Bool
        if let sent, let sentAt {
            isDue = latest.status != sent || (!sent.isHealthy && now >= sentAt + self.repeatInterval)
        } else {
            isDue = true
        }
        guard isDue else { return nil }
        self.sent = latest.status
        self.sentAt = now
        return latest
    }

    /// When to look again if nothing changes: the repeat of an unhealthy report; nil after a healthy one.
    var nextRepeat: Duration? {
        guard let sent, let sentAt, !sent.isHealthy else { return nil }
        return sentAt + self.repeatInterval
    }
}
