import ArgumentParser
import GatehouseClient

/// What `enable` and `disable` share: the feature, where, its parameters, why.
struct ToggleOptions: ParsableArguments {
    @Argument(help: "The feature's name, e.g. InPlacePodVerticalScaling (case-sensitive); or none, with --api.", completion: Completions.features)
    var feature: String?

    @OptionGroup var activation: ApiActivationOptions

    @OptionGroup var scope: ScopeOptions

    @Option(
        name: .customLong("param"),
        help: ArgumentHelp("Set a parameter at the same scope, typed by the feature's spec: timeout=30s, batch_size=50 (repeatable).", valueName: "name=value")
    )
    var params: [String] = []

    @Option(name: .long, help: "Why, recorded on the override and in the audit trail (required).")
    var reason: String

    @OptionGroup var write: WriteOptions

    func validate() throws {
        try ReasonArgument.validate(self.reason)
        for param in self.params { _ = try ParameterArguments.split(param) }
        try self.activation.validate(feature: self.feature, scope: self.scope, params: self.params, write: self.write)
    }

    /// Sends one Set with one change: the feature on or off at the scope, with its parameters.
    ///
    /// With `--param`, the feature is fetched first (Features/Get) so each value is
    /// parsed and checked against its spec; an unknown feature is then NOT_FOUND (66).
    func toggle(enabled: Bool, global: GlobalOptions) async throws {
        guard let feature = self.feature else {
            // validate() let this through only for --api --two-phase --component C.
            return try await self.activation.activate(enabled: enabled, component: self.scope.component ?? "", reason: self.reason, global: global)
        }
        let response = try await global.withClient { client in
            var change = Gatehouse_V1_Change.with { change in
                change.feature = feature
                change.scope = self.scope.scope.wire
                change.enabled = enabled
            }
            if !self.params.isEmpty {
                let definition = try await client.featureDefinition(named: feature)
                change.params = try ParameterArguments.values(self.params, for: definition)
            }
            var request = Gatehouse_V1_SetRequest.with { $0.changes = [change] }
            self.write.apply(to: &request, reason: self.reason)
            return try await client.set(request)
        }
        try Printer.print(response, as: global.output) { SetResult.text(response, dryRun: self.write.dryRun) }
    }
}
