import ArgumentParser
import Dispatch
import GatehouseClient
import GatehouseCore
import Synchronization

/// Shell completion of feature and component names, asked of the server.
///
/// `gatectl --generate-completion-script bash|zsh|fish` writes a script that,
/// on TAB, runs gatectl again to complete the word; for a feature or component
/// name that run connects with the config the command line names (`--config`,
/// `--server`, else the usual search) and lists them. It is silent on any
/// failure (no config, no server, denied): a completion prints nothing rather
/// than an error into the user's command line, and gives up after 2 s.
enum Completions {
    enum Kind: Sendable {
        case features, components
    }

    /// How long a completion may wait for the server.
    static let timeout: Duration = .seconds(2)

    static let features = CompletionKind.custom { words, _, prefix in Self.waiting(for: .features, words: words, prefix: prefix) }
    static let components = CompletionKind.custom { words, _, prefix in Self.waiting(for: .components, words: words, prefix: prefix) }

    /// ``names(_:words:prefix:)`` from a synchronous completion closure.
    ///
    /// Synchronous on purpose: a command with an asynchronous completion may no longer
    /// be parsed with the synchronous `parse`, which tests (and debug builds) use
    /// everywhere. The calls run in a task of their own; waiting for it is bounded
    /// (`timeout`, ``timeout`` unless a test allows a loaded machine more, and a
    /// little), so a runtime with a single cooperative thread gets no names rather
    /// than a hung TAB.
    static func waiting(for kind: Kind, words: [String], prefix: String, timeout: Duration = Self.timeout) -> [String] {
        let result = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            result.set(await Self.names(kind, words: words, prefix: prefix, timeout: timeout))
            done.signal()
        }
        let milliseconds = Int(clamping: timeout.wholeMilliseconds + 500)
        guard done.wait(timeout: .now() + .milliseconds(milliseconds)) == .success else { return [] }
        return result.value
    }

    /// The names a completion task found, handed to the waiting thread.
    private final class ResultBox: Sendable {
        private let names = Mutex<[String]>([])
        var value: [String] { self.names.withLock { $0 } }
        func set(_ names: [String]) { self.names.withLock { $0 = names } }
    }

    /// The names of `kind` that start with `prefix`, sorted; empty when the server cannot be asked.
    static func names(_ kind: Kind, words: [String], prefix: String, timeout: Duration = Self.timeout) async -> [String] {
        let prefix = Self.unquoted(prefix)
        var arguments = ["--timeout", "\(timeout.wholeMilliseconds)ms"]
        for flag in ["--config", "--server"] {
            if let value = Self.value(of: flag, in: words) { arguments += [flag, value] }
        }
        guard let options = try? GlobalOptions.parse(arguments), let client = try? await options.connect() else { return [] }
        defer { Task { await client.close() } }
        var names: Set<String> = []
        switch kind {
        case .features:
            let request = Gatehouse_V1_ListFeaturesRequest.with { $0.namePrefix = prefix }
            guard let response = try? await client.listFeatures(request) else { return [] }
            names.formUnion(response.features.map(\.name))
        case .components:
            // Those the catalog names and those registered: a component may be either before it is both.
            if let features = try? await client.listFeatures(Gatehouse_V1_ListFeaturesRequest()) {
                names.formUnion(features.features.flatMap(\.components))
            }
            if let instances = try? await client.listComponents(Gatehouse_V1_ListComponentsRequest()) {
                names.formUnion(instances.instances.map(\.component))
            }
        }
        return names.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// The value of `--flag VALUE` or `--flag=VALUE` in the shell words, quotes removed.
    static func value(of flag: String, in words: [String]) -> String? {
        for (index, word) in words.enumerated() {
            if word == flag, index + 1 < words.count { return Self.unquoted(words[index + 1]) }
            if word.hasPrefix(flag + "=") { return Self.unquoted(String(word.dropFirst(flag.count + 1))) }
        }
        return nil
    }

    /// A shell word without the quotes around it (words reach Swift verbatim).
    static func unquoted(_ word: String) -> String {
        guard word.count >= 2, let first = word.first, first == word.last, first == "\"" || first == "'" else { return word }
        return String(word.dropFirst().dropLast())
    }
}
