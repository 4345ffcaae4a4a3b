import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import SwiftProtobuf

/// `gatectl watch COMPONENT [--instance I]`: the pushes a component or instance gets, live.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream what a component (or one instance) is pushed: a snapshot, then every change.",
        discussion: """
            The watch sees exactly what a subscribed instance sees, but is not that
            instance's liveness and sends no acks. Without --instance it shows the
            component's own state (no instance overrides). Each line starts with the
            revision; heartbeats are shown with --heartbeats. Stops on Ctrl-C, or with
            exit code 69 when the server ends the stream (e.g. it shuts down).
            `-o json` prints one JSON message per line.

            Examples:
              gatectl watch kubelet
              gatectl watch kubelet --instance node-17 --version 1.31.2
              gatectl watch kube-apiserver -o json | jq -c '.delta // empty'
            """
    )

    @Argument(help: "The component, e.g. kubelet.", completion: Completions.components)
    var component: String

    @Option(name: .long, help: ArgumentHelp("Watch as this instance (its own overrides apply).", valueName: "id"))
    var instance: String?

    @Option(name: .long, help: ArgumentHelp("Resolve as this component version (minimum-version rules apply).", valueName: "semver"))
    var version: String?

    @Flag(name: .long, help: "Also print heartbeats.")
    var heartbeats = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            try await self.global.withClient { client in
                let stream = try await client.watch(
                    .with {
                        $0.component = self.component
                        $0.instanceID = self.instance ?? ""
                        $0.version = self.version ?? ""
                        $0.watchOnly = true
                    }
                )
                for try await message in stream {
                    try self.print(message)
                }
            }
        }
    }

    private func print(_ message: Gatehouse_V1_SubscribeResponse) throws {
        if case .heartbeat = message.message, !self.heartbeats { return }
        switch self.global.output {
        case .json, .yaml:
            var options = JSONEncodingOptions()
            options.alwaysPrintInt64sAsNumbers = true
            Swift.print(try message.jsonString(options: options))
        case .table, .wide:
            for line in Self.lines(message) { Swift.print(ControlCharacters.escaped(line)) }
        }
        // Lines reach a pipe as they happen, not when a buffer fills.
        fflush(nil)
    }

    static func lines(_ message: Gatehouse_V1_SubscribeResponse) -> [String] {
        switch message.message {
        case .snapshot(let snapshot):
            let what = "r\(snapshot.revision) snapshot\(snapshot.reset ? " (reset)" : ""): \(snapshot.features.count) features, \(snapshot.apis.count) APIs"
            return [what] + snapshot.features.map { "  \(Self.describe($0))" } + snapshot.apis.map { "  \(Self.describe($0))" }
        case .delta(let delta):
            return ["r\(delta.revision) delta"] + delta.features.map { "  \(Self.describe($0))" } + delta.apis.map { "  \(Self.describe($0))" }
                + delta.removedFeatures.map { "  \($0) removed" } + delta.removedApis.map { "  \(Format.api($0)) removed" }
        case .heartbeat(let heartbeat):
            return ["r\(heartbeat.revision) heartbeat"]
        case .prepare(let prepare):
            return ["prepare \(prepare.id)"] + prepare.apis.map { "  \(Self.describe($0))" }
        case .prepareCancel(let cancel):
            return ["prepare \(cancel.id) cancelled: \(cancel.reason)"]
        case nil:
            return []
        }
    }

    static func describe(_ feature: Gatehouse_V1_EffectiveFeature) -> String {
        let params = feature.params.isEmpty ? "" : " (\(Format.params(feature.params)))"
        return "\(feature.name)=\(feature.enabled)\(params) [\(Format.stage(feature.stage))]"
    }

    static func describe(_ api: Gatehouse_V1_EffectiveApi) -> String {
        "\(Format.api(api.api))=\(api.enabled) [\(Format.stage(api.stage))]"
    }
}
