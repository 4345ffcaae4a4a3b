import ArgumentParser
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// The text forms `gatectl rollout start` reads: steps, durations, `key=value` labels, the target.
///
/// Each refusal is a usage error (exit 64) that shows the expected form, so
/// a typo never reaches the server as a surprising rollout.
enum RolloutArguments {
    /// Parses `1%,10%,50%,100%` (shares of the selected instances) or counts such as
    /// `1,5,50%` (a bare number is that many instances); `bake` and `maxUnhealthy` apply to every step.
    ///
    /// Sizes are checked here as the server checks them (1–16 steps, percent in (0, 100],
    /// counts at least 1, no shrinking within a kind), so the mistake is named before a call.
    static func steps(_ text: String, bakeMs: Int64, maxUnhealthy: UInt32) throws -> [Gatehouse_V1_RolloutStep] {
        let example = "e.g. --steps 1%,10%,50%,100% or --steps 1,5,50%,100%"
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty, items.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("--steps needs a comma-separated list of sizes, \(example); got \"\(text)\"")
        }
        guard items.count <= Rollout.maximumSteps else {
            throw ValidationError("--steps has \(items.count) steps; at most \(Rollout.maximumSteps) are allowed")
        }
        var lastPercent = 0.0
        var lastCount: UInt32 = 0
        return try items.map { item in
            var step = Gatehouse_V1_RolloutStep.with {
                $0.bakeMs = bakeMs
                $0.maxUnhealthy = maxUnhealthy
            }
            if item.hasSuffix("%") {
                guard let percent = Double(item.dropLast()), percent.isFinite, percent > 0, percent <= 100 else {
                    throw ValidationError("--steps: \"\(item)\" is not a share in (0%, 100%], \(example)")
                }
                guard percent >= lastPercent else {
                    throw ValidationError("--steps: \(item) after \(Format.percent(lastPercent)) shrinks the rollout; sizes must not decrease")
                }
                lastPercent = percent
                step.percent = percent
            } else {
                guard let count = UInt32(item), count >= 1 else {
                    throw ValidationError("--steps: \"\(item)\" is neither a share like 10% nor a count of instances (at least 1), \(example)")
                }
                guard count >= lastCount else {
                    throw ValidationError("--steps: \(count) instances after \(lastCount) shrinks the rollout; sizes must not decrease")
                }
                lastCount = count
                step.instances = count
            }
            return step
        }
    }

    /// Parses `90s`, `5m`, `1h30m`, `250ms`, `2d` or `0` into milliseconds.
    static func durationMs(_ text: String, option: String) throws -> Int64 {
        // A bare number other than 0 is refused: "--bake 5" is too easily read as 5 minutes.
        guard text == "0" || Int64(text) == nil, let milliseconds = DurationText.milliseconds(text), milliseconds >= 0 else {
            throw ValidationError("\(option) expects a duration such as 30s, 5m, 1h30m or 0; got \"\(text)\"")
        }
        return milliseconds
    }

    /// `zone=eu-west-1a` pairs as a map; a repeated key is a usage error.
    static func labels(_ arguments: [String]) throws -> [String: String] {
        var labels: [String: String] = [:]
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("--label expects key=value, e.g. --label zone=eu-west-1a; got \"\(argument)\"")
            }
            guard labels[String(parts[0])] == nil else {
                throw ValidationError("--label \(parts[0]) is given more than once")
            }
            labels[String(parts[0])] = String(parts[1])
        }
        return labels
    }

    /// The feature named, or the API of `--api`: exactly one of them.
    static func target(feature: String?, api: String?) throws -> Gatehouse_V1_RolloutTarget {
        switch (feature, api) {
        case (let feature?, nil):
            return .with { $0.feature = feature }
        case (nil, let api?):
            let ref: APIRef
            do {
                ref = try APIRef(parsing: api)
            } catch {
                throw ValidationError("--api: \(error.message)")
            }
            return .with { $0.api = ref.wire }
        case (nil, nil):
            throw ValidationError("say what to roll out: a FEATURE, or --api GROUP/VERSION (e.g. --api batch/v1beta1)")
        case (.some, .some):
            throw ValidationError("roll out one thing at a time: a FEATURE or --api, not both")
        }
    }
}
