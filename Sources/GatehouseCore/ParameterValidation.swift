/// Checking parameter values against their spec, and specs against themselves.
///
/// Kept apart from `ParameterSpec` so the declaration reads as data and the
/// rules read as rules. Every failure is `invalidArgument` naming the feature,
/// the parameter, the value and what would have been accepted.
extension ParameterSpec {
    /// Refuses `value` unless it has this parameter's type and is within its bounds.
    /// - Parameter feature: the feature's name, for the message.
    public func check(_ value: ParameterValue, feature: String) throws(GateError) {
        func refuse(_ why: String) -> GateError {
            GateError(
                "parameter \(self.name) of \(feature): \(why)",
                reason: .invalidParameter,
                metadata: ["feature": feature, "parameter": self.name, "value": value.description]
            )
        }
        switch (self.kind, value) {
        case (.bool, .bool):
            return
        case (.int(_, let min, let max), .int(let number)):
            if let min, number < min { throw refuse("\(number) is below the minimum \(min)") }
            if let max, number > max { throw refuse("\(number) is above the maximum \(max)") }
        case (.duration(_, let min, let max), .durationMs(let number)):
            if let min, number < min { throw refuse("\(number)ms is below the minimum \(min)ms") }
            if let max, number > max { throw refuse("\(number)ms is above the maximum \(max)ms") }
        case (.string(_, let pattern), .string(let text)):
            guard let pattern else { return }
            let bytes = text.utf8.count
            if bytes > Self.maximumMatchedStringBytes {
                throw refuse("the value is \(bytes) bytes long; a string parameter with a regex holds at most \(Self.maximumMatchedStringBytes)")
            }
            switch Self.wholeMatch(pattern, text) {
            case .success(true): return
            case .success(false): throw refuse("\"\(text)\" does not match /\(pattern)/")
            case .failure(let problem): throw refuse("its regex /\(pattern)/ does not compile (\(problem)); fix the definition")
            }
        case (.enumeration(_, let values), .enumValue(let choice)):
            guard values.contains(choice) else {
                throw refuse("\"\(choice)\" is not one of \(values.joined(separator: ", "))")
            }
        case (.bool, _), (.int, _), (.duration, _), (.string, _), (.enumeration, _):
            throw refuse("expected a \(self.kind.typeName) value, got \(value.typeName) \(value)")
        }
    }

    /// Problems with the declaration itself (bounds, regex, enum values, default), empty when sound.
    public func problems(feature: String) -> [String] {
        var problems: [String] = []
        let prefix = "feature \(feature), parameter \(self.name.isEmpty ? "\"\"" : self.name)"
        if !Names.isValidParameterName(self.name) {
            problems.append("\(prefix): a parameter name is letters, digits, '_', '-' or '.', starting with a letter")
        }
        switch self.kind {
        case .bool:
            break
        case .int(_, let min, let max), .duration(_, let min, let max):
            if let min, let max, min > max {
                problems.append("\(prefix): minimum \(min) is above maximum \(max)")
            }
        case .string(_, let pattern):
            if let pattern, case .failure(let problem) = Self.wholeMatch(pattern, "") {
                problems.append("\(prefix): regex /\(pattern)/ does not compile: \(problem)")
            }
        case .enumeration(_, let values):
            if values.isEmpty { problems.append("\(prefix): an enum needs at least one value") }
            if Set(values).count != values.count { problems.append("\(prefix): enum values repeat") }
        }
        if problems.isEmpty {
            do throws(GateError) {
                try self.check(self.defaultValue, feature: feature)
            } catch {
                problems.append("\(prefix): default \(self.defaultValue) is invalid: \(error.message)")
            }
        }
        return problems
    }

    /// Turns a person's text into a value of this parameter's type, then checks it.
    ///
    /// Bools accept `true`/`false` (as Kubernetes' flags do: also `1`, `t`, `0`, `f`);
    /// durations accept `250ms`, `30s`, `5m`, `1h`, `1m30s` or bare milliseconds.
    public func value(parsing text: String, feature: String) throws(GateError) -> ParameterValue {
        func refuse(_ expected: String) -> GateError {
            GateError(
                "parameter \(self.name) of \(feature): \"\(text)\" is not \(expected)",
                reason: .invalidParameter,
                metadata: ["feature": feature, "parameter": self.name, "value": text]
            )
        }
        let value: ParameterValue
        switch self.kind {
        case .bool:
            guard let flag = FlagSyntax.parseBool(text) else { throw refuse("a bool (true or false)") }
            value = .bool(flag)
        case .int:
            guard let number = Int64(text) else { throw refuse("an integer") }
            value = .int(number)
        case .string:
            value = .string(text)
        case .enumeration:
            value = .enumValue(text)
        case .duration:
            guard let milliseconds = DurationText.milliseconds(text) else {
                throw refuse("a duration (e.g. 250ms, 30s, 5m, 1h30m or plain milliseconds)")
            }
            value = .durationMs(milliseconds)
        }
        try self.check(value, feature: feature)
        return value
    }

    /// The longest value of a string parameter that has a regex, in UTF-8 bytes: with the
    /// bound on a compiled pattern, it bounds what one match costs (at most 5,000 × 4,096
    /// steps). Values of parameters without a regex are bounded by the frame size only.
    public static let maximumMatchedStringBytes = 4096

    /// Whole-string regex match in linear time (``LinearRegex``), or why the pattern is refused.
    static func wholeMatch(_ pattern: String, _ text: String) -> Result<Bool, RegexSyntaxError> {
        do throws(RegexSyntaxError) {
            return .success(try LinearRegex(pattern).wholeMatch(text))
        } catch {
            return .failure(error)
        }
    }
}

