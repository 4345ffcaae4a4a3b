import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import SwiftProtobuf

/// `gatectl rollout status NAME [--watch]`: a rollout's progress, once or until it ends.
struct RolloutStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a rollout's progress: one bar per step, and its canaries' health.",
        discussion: """
            Each step's bar fills with the share of its canaries that applied the
            change; the current step also tells the unhealthy count and the bake time
            left. Without --watch, the canaries follow (acked, healthy, connected, and
            why not).

            With --watch, the bars are redrawn every --interval until the rollout
            ends, and the exit status tells how: 0 completed, 2 rolled back on its own
            (canaries unhealthy), 3 aborted by an operator (other codes are errors, as
            for every command). The rollout goes on without a server that restarts or
            drains, and so does the watch: it says so on stderr and reconnects every
            --interval until a server answers (stop it with Ctrl-C). Not on a terminal, a new picture is printed only when
            something changed; -o json prints one JSON object per line, -o yaml one
            document per change.

            Examples:
              gatectl rollout status r42
              gatectl rollout status r42 --watch && echo "rolled out"
              gatectl rollout status r42 --watch --interval 10s
              gatectl rollout status r42 -o yaml
            """
    )

    @Argument(help: "The rollout's name, e.g. r42.")
    var name: String

    @Flag(name: .long, help: "Redraw until the rollout ends; the exit status says how it ended.")
    var watch = false

    @Option(name: .long, help: ArgumentHelp("With --watch, how often to ask the server.", valueName: "duration"))
    var interval = "2s"

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard try RolloutArguments.durationMs(self.interval, option: "--interval") >= 100 else {
            throw ValidationError("--interval must be at least 100ms")
        }
    }

    func run() async throws {
        var ending: Int32?
        try await ExitStatus.run {
            guard self.watch else {
                let response = try await self.global.withClient { try await $0.getRollout(named: self.name) }
                try Printer.print(response, as: self.global.output) {
                    RolloutView.status(response, nowUnixMs: Self.nowUnixMs())
                }
                return
            }
            let client = try await self.global.connect()
            ending = try await self.follow(client)
        }
        if let ending, ending != 0 { throw ExitCode(ending) }
    }

    /// Polls Get and redraws until the rollout ends; returns the exit code of its ending.
    ///
    /// A call that fails because the server went away (``isTransient(_:)``) does not end
    /// the watch: it reconnects every interval, as the rollout itself outlives a restart.
    /// Any other failure ends it with its own exit code. Closes `client` (or its successor).
    private func follow(_ first: GatehouseClient) async throws -> Int32 {
        let interval = try RolloutArguments.durationMs(self.interval, option: "--interval")
        var screen = WatchScreen(terminal: isatty(STDOUT_FILENO) == 1)
        var client = first
        while true {
            let response: Gatehouse_V1_GetRolloutResponse
            do {
                response = try await client.getRollout(named: self.name)
            } catch let error as RPCError where Self.isTransient(error) {
                await client.close()
                Self.note("lost the server (\(ExitStatus.describe(error))); the rollout goes on without it, reconnecting every \(self.interval)")
                screen.interrupted()
                client = try await self.reconnect(every: interval)
                Self.note("reconnected; watching \(self.name) again")
                continue
            } catch {
                await client.close()
                throw error
            }
            switch self.global.output {
            case .table, .wide:
                if let frame = screen.frame(RolloutView.progress(response, nowUnixMs: Self.nowUnixMs()), change: WatchScreen.key(response)) {
                    print(frame)
                }
            case .json, .yaml:
                if screen.isNew(WatchScreen.key(response)) {
                    try Printer.streamed(response, as: self.global.output)
                }
            }
            fflush(nil)
            if let code = RolloutView.exitCode(response.rollout.phase) {
                await client.close()
                return code
            }
            try await Task.sleep(for: .milliseconds(interval))
        }
    }

    /// Connects again once a server answers; a problem that waiting cannot fix (a bad config) is thrown.
    private func reconnect(every interval: Int64) async throws -> GatehouseClient {
        while true {
            try await Task.sleep(for: .milliseconds(interval))
            do {
                return try await self.global.connect()
            } catch let error as RPCError where Self.isTransient(error) {
                continue
            }
        }
    }

    /// Failures a server restart or drain causes, which the watch waits out.
    static func isTransient(_ error: RPCError) -> Bool {
        switch error.code {
        case .unavailable, .deadlineExceeded: true
        case .ok, .cancelled, .unknown, .invalidArgument, .notFound, .alreadyExists, .permissionDenied,
             .resourceExhausted, .failedPrecondition, .aborted, .outOfRange, .unimplemented, .internal,
             .dataLoss, .unauthenticated, .other:
            false
        }
    }

    /// One line on stderr, as errors are printed.
    private static func note(_ text: String) {
        FileHandle.standardError.write(Data("gatectl: \(ControlCharacters.escaped(text))\n".utf8))
    }

    static func nowUnixMs() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

/// What `--watch` has drawn, so it redraws in place on a terminal and prints only changes elsewhere.
struct WatchScreen {
    let terminal: Bool
    private var drawnLines = 0
    private var lastKey: Gatehouse_V1_GetRolloutResponse?

    init(terminal: Bool) {
        self.terminal = terminal
    }

    /// The answer without what changes on its own (the global revision), to tell a real change.
    static func key(_ response: Gatehouse_V1_GetRolloutResponse) -> Gatehouse_V1_GetRolloutResponse {
        var key = response
        key.revision = 0
        return key
    }

    /// Whether `key` differs from the last one seen; remembers it.
    mutating func isNew(_ key: Gatehouse_V1_GetRolloutResponse) -> Bool {
        defer { self.lastKey = key }
        return key != self.lastKey
    }

    /// Something else was written to the terminal: the next picture starts below it instead of over it.
    mutating func interrupted() {
        self.drawnLines = 0
    }

    /// What to print for this poll (a line break follows), or nil for nothing.
    ///
    /// On a terminal: every poll, moving up over the previous picture and
    /// clearing it first (the bake countdown ticks). Elsewhere: the picture
    /// and a blank line, only when `change` is new. Text from the server is escaped.
    mutating func frame(_ lines: [String], change: Gatehouse_V1_GetRolloutResponse) -> String? {
        let isNew = self.isNew(change)
        let text = lines.map(ControlCharacters.escaped).joined(separator: "\n")
        guard self.terminal else { return isNew ? text + "\n" : nil }
        let rewind = self.drawnLines > 0 ? "\u{1B}[\(self.drawnLines)A\r\u{1B}[J" : ""
        self.drawnLines = lines.count
        return rewind + text
    }
}
