import Foundation
import GatehouseClient

/// How rollouts read in a terminal: one line per rollout in lists, and a
/// progress bar per step in `rollout status`.
///
/// Pure functions of the server's answer and the time `now` (passed in, so
/// the bake countdown is tested without a clock).
enum RolloutView {
    /// Width of a step's progress bar, between the brackets.
    static let barWidth = 10

    /// `running`, `paused`, `completed`, `rolled back`, `aborted`.
    static func phase(_ phase: Gatehouse_V1_RolloutPhase) -> String {
        switch phase {
        case .running: "running"
        case .paused: "paused"
        case .completed: "completed"
        case .rolledBack: "rolled back"
        case .aborted: "aborted"
        case .unspecified: "-"
        case .UNRECOGNIZED(let value): "phase(\(value))"
        }
    }

    /// `feature GracefulNodeShutdown`, `api batch/v1beta1`.
    static func target(_ target: Gatehouse_V1_RolloutTarget) -> String {
        switch target.target {
        case .feature(let name): "feature \(name)"
        case .api(let ref): "api \(Format.api(ref))"
        case nil: "-"
        }
    }

    /// `10%`, `0.5%`, `5 instances`, `1 instance`.
    static func size(_ step: Gatehouse_V1_RolloutStep) -> String {
        switch step.size {
        case .percent(let percent): Format.percent(percent)
        case .instances(let count): count == 1 ? "1 instance" : "\(count) instances"
        case nil: "-"
        }
    }

    /// `2/4 10%`: the current step (1-based) of how many, and its size.
    static func step(_ rollout: Gatehouse_V1_Rollout) -> String {
        let steps = rollout.spec.steps
        guard !steps.isEmpty else { return "-" }
        let index = min(Int(rollout.step), steps.count - 1)
        return "\(index + 1)/\(steps.count) \(Self.size(steps[index]))"
    }

    /// `[#####.....]` for `fraction` in [0, 1] (clamped), rounded down so only a finished step is full.
    static func bar(_ fraction: Double) -> String {
        let clamped = fraction.isFinite ? min(max(fraction, 0), 1) : 0
        let filled = Int((clamped * Double(Self.barWidth)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: Self.barWidth - filled) + "]"
    }

    // MARK: - List

    static func table(_ response: Gatehouse_V1_ListRolloutsResponse) -> String {
        Format.table(
            header: ["NAME", "TARGET", "VALUE", "COMPONENT", "PHASE", "STEP", "STARTED", "MESSAGE"],
            rows: response.rollouts.map { rollout in
                [
                    rollout.spec.name,
                    Self.target(rollout.spec.target),
                    Format.enabled(rollout.spec.enabled),
                    rollout.spec.component,
                    Self.phase(rollout.phase),
                    Self.step(rollout),
                    rollout.createdAtUnixMs == 0 ? "-" : Format.time(unixMs: rollout.createdAtUnixMs),
                    rollout.message.isEmpty ? "-" : rollout.message,
                ]
            },
            empty: "no rollouts match (revision \(response.revision)); start one with `gatectl rollout start`"
        )
    }

    // MARK: - Status

    /// What a rollout does, to whom: `rollout r7: feature X on for kubelet (zone=a, version >= 1.31.0)`.
    static func headline(_ rollout: Gatehouse_V1_Rollout) -> String {
        let spec = rollout.spec
        var selection: [String] = spec.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if !spec.minVersion.isEmpty { selection.append("version >= \(spec.minVersion)") }
        let only = selection.isEmpty ? "" : " (\(selection.joined(separator: ", ")))"
        let params = spec.params.isEmpty ? "" : " with \(Format.params(spec.params))"
        let name = spec.name.isEmpty ? "(named r<revision> when started)" : spec.name
        return "rollout \(name): \(Self.target(spec.target)) \(Format.enabled(spec.enabled))\(params) for \(spec.component)\(only)"
    }

    /// The status picture: a headline, the phase, then one progress bar per step.
    ///
    /// Steps before the current one are done; the current one fills with the
    /// share of its canaries that acked, and tells the bake time left; later
    /// ones are empty. A completed rollout is done throughout; a rolled-back
    /// or aborted one says why on the step it stopped at.
    static func progress(_ response: Gatehouse_V1_GetRolloutResponse, nowUnixMs: Int64) -> [String] {
        let rollout = response.rollout
        let steps = rollout.spec.steps
        var lines = [Self.headline(rollout)]
        var state = "\(Self.phase(rollout.phase)) at step \(min(Int(rollout.step), max(steps.count - 1, 0)) + 1)/\(steps.count)"
        state += ", \(response.selected) selected instance\(response.selected == 1 ? "" : "s")"
        if rollout.createdAtUnixMs != 0 { state += ", started \(Format.time(unixMs: rollout.createdAtUnixMs))" }
        if !rollout.actor.isEmpty { state += " by \(rollout.actor)" }
        lines.append(state)

        let sizes = steps.map(Self.size)
        let sizeWidth = sizes.map(\.count).max() ?? 0
        let current = Int(rollout.step)
        for (index, size) in sizes.enumerated() {
            let label = "step \(index + 1)/\(steps.count) \(size.padding(toLength: sizeWidth, withPad: " ", startingAt: 0))"
            let detail: (fraction: Double, text: String)
            if rollout.phase == .completed || index < current {
                detail = (1, "done")
            } else if index > current {
                detail = (0, "")
            } else {
                detail = Self.currentStep(response, nowUnixMs: nowUnixMs)
            }
            lines.append("\(label)  \(Self.bar(detail.fraction))" + (detail.text.isEmpty ? "" : " \(detail.text)"))
        }
        if rollout.phase == .completed {
            lines.append("completed: in effect on the whole selection")
        }
        return lines
    }

    /// The current step's bar and words.
    private static func currentStep(_ response: Gatehouse_V1_GetRolloutResponse, nowUnixMs: Int64) -> (fraction: Double, text: String) {
        let rollout = response.rollout
        let fraction = response.canaries == 0 ? 0 : Double(response.acked) / Double(response.canaries)
        var words = "\(response.acked)/\(response.canaries) canar\(response.canaries == 1 ? "y" : "ies") acked, \(response.unhealthy) unhealthy"
        switch rollout.phase {
        case .running:
            let left = max(0, rollout.bakeDeadlineUnixMs - nowUnixMs)
            words += left > 0 ? ", bake \(Format.remaining(ms: left)) left" : ", baked"
        case .paused:
            words += ", paused with \(Format.remaining(ms: rollout.bakeRemainingMs)) of bake left"
            if !rollout.message.isEmpty { words += ": \(rollout.message)" }
        case .rolledBack:
            words = "rolled back: \(rollout.message)"
        case .aborted:
            words = "aborted: \(rollout.message)"
        case .completed, .unspecified, .UNRECOGNIZED:
            break
        }
        return (fraction, words)
    }

    /// The canaries, one row each, as Get returned them (sorted by bucket, at most 100).
    static func canaries(_ response: Gatehouse_V1_GetRolloutResponse) -> String {
        Format.table(
            header: ["INSTANCE", "BUCKET", "ACKED", "HEALTHY", "CONNECTED", "MESSAGE"],
            rows: response.canaryStatus.map { canary in
                [
                    canary.instanceID,
                    String(format: "%.4f", canary.bucket),
                    canary.acked ? "yes" : "no",
                    canary.healthy ? "yes" : "no",
                    canary.connected ? "yes" : "no",
                    canary.message.isEmpty ? "-" : canary.message,
                ]
            },
            empty: "no canaries at this step"
        )
    }

    /// `status NAME` once: the progress picture, then the canaries.
    static func status(_ response: Gatehouse_V1_GetRolloutResponse, nowUnixMs: Int64) -> String {
        Self.progress(response, nowUnixMs: nowUnixMs).joined(separator: "\n") + "\n\n" + Self.canaries(response)
    }

    /// One line after a pause, resume, promote or abort: `rollout r7 paused at step 2/4 10% (r43)`.
    static func action(_ response: Gatehouse_V1_RolloutActionResponse) -> String {
        let rollout = response.rollout
        let message = rollout.message.isEmpty ? "" : ": \(rollout.message)"
        return "rollout \(rollout.spec.name) \(Self.phase(rollout.phase)) at step \(Self.step(rollout)) (r\(response.revision))\(message)\n"
    }

    /// After Start: what started (or, for a dry run, would), with its steps.
    static func started(_ response: Gatehouse_V1_StartRolloutResponse, dryRun: Bool) -> String {
        let rollout = response.rollout
        let steps = rollout.spec.steps.map { step in
            var text = Self.size(step)
            if step.bakeMs > 0 { text += " bake \(Format.duration(step.bakeMs))" }
            if step.maxUnhealthy > 0 { text += " max \(step.maxUnhealthy) unhealthy" }
            return text
        }.joined(separator: " → ")
        let head = dryRun
            ? "dry run: \(Self.headline(rollout)) would start (server at r\(response.revision)); nothing changed"
            : "\(Self.headline(rollout)) started at r\(response.revision)"
        let follow = dryRun ? "" : "follow it with: gatectl rollout status \(rollout.spec.name) --watch\n"
        return "\(head)\nsteps: \(steps)\n\(follow)"
    }

    /// How a finished rollout ended, as `rollout status --watch`'s exit status: nil while it may still change.
    ///
    /// 0 completed, 2 rolled back on its own (canaries unhealthy), 3 aborted by an operator.
    static func exitCode(_ phase: Gatehouse_V1_RolloutPhase) -> Int32? {
        switch phase {
        case .completed: 0
        case .rolledBack: 2
        case .aborted: 3
        case .running, .paused, .unspecified, .UNRECOGNIZED: nil
        }
    }
}

extension Format {
    /// `10%`, `0.5%`, `33.3%`: a share without trailing zeros.
    static func percent(_ percent: Double) -> String {
        if percent == percent.rounded() { return "\(Int(percent))%" }
        var text = String(format: "%.3f", percent)
        while text.hasSuffix("0") { text.removeLast() }
        return text + "%"
    }

    /// `2m10s`, `1h0m5s`, `45s`, `0s`: time left, rounded up to the second.
    static func remaining(ms: Int64) -> String {
        guard ms > 0 else { return "0s" }
        let seconds = (ms + 999) / 1000
        let (hours, minutes, secs) = (seconds / 3600, seconds % 3600 / 60, seconds % 60)
        if hours > 0 { return "\(hours)h\(minutes)m\(secs)s" }
        if minutes > 0 { return "\(minutes)m\(secs)s" }
        return "\(secs)s"
    }
}
