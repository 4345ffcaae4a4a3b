import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseTestUtils
import Testing

@testable import gatectl

/// Shell completion of feature and component names: asked of the server with the
/// command line's own config, silent when it cannot be.
@Suite("Completion", .serialized)
struct CompletionTests {
    static let catalog = """
        features:
          - name: InPlacePodVerticalScaling
            stage: beta
            default_enabled: true
            components: [kubelet, kube-apiserver]
          - name: InPlaceSomethingElse
            stage: alpha
            default_enabled: false
            components: [kube-scheduler]
          - name: SidecarContainers
            stage: beta
            default_enabled: true
        """

    @Test("feature and component names come from the server named by the command line's --config")
    func namesFromTheServer() async throws {
        let running = try await ConnectionErrorTests.Running.start()
        do {
            let admin = try await GlobalOptions.parse(["--config", running.adminConfig]).connect()
            _ = try await admin.importCatalog(.with { $0.yaml = Self.catalog; $0.reason = "test" })
            await admin.close()

            // The suite shares two loaded cores with the rest: the 2 s a TAB gets is not the point here.
            let timeout: Duration = .seconds(30)
            let words = ["gatectl", "enable", "--config", running.adminConfig, "InPlace"]
            #expect(await Completions.names(.features, words: words, prefix: "InPlace", timeout: timeout) == ["InPlacePodVerticalScaling", "InPlaceSomethingElse"])
            #expect(await Completions.names(.features, words: words, prefix: "", timeout: timeout).count == 3)
            let quoted = ["gatectl", "status", "--config='\(running.adminConfig)'", "--component", "kube"]
            #expect(await Completions.names(.components, words: quoted, prefix: "kube", timeout: timeout) == ["kube-apiserver", "kube-scheduler", "kubelet"])
            // As the shell's completion run calls it: synchronously, from a thread of its own
            // (blocking a cooperative thread here would starve the task it waits for).
            let synchronous = try await runOffTheCooperativePool { Completions.waiting(for: .features, words: words, prefix: "Side", timeout: timeout) }
            #expect(synchronous == ["SidecarContainers"])
        } catch {
            try await running.stop()
            throw error
        }
        try await running.stop()
    }

    @Test("no config or no server: no names, and nothing thrown or printed")
    func silentOnFailure() async throws {
        let words = ["gatectl", "enable", "--config", "/nonexistent/gatectl.conf", "In"]
        #expect(await Completions.names(.features, words: words, prefix: "In").isEmpty)
    }

    @Test("commands with completions still parse synchronously (tests and scripts do)")
    func synchronousParse() throws {
        #expect(try Status.parse(["SidecarContainers"]).feature == "SidecarContainers")
        _ = try Gatectl.parseAsRoot(["enable", "X", "--component", "kubelet", "--reason", "r"])
    }

    @Test("the completion script asks gatectl for feature and component names")
    func script() {
        let bash = Gatectl.completionScript(for: .bash)
        for call in ["---completion enable -- positional@0", "---completion enable -- --component", "---completion status -- positional@0",
                     "---completion components -- positional@0", "---completion features get -- positional@0"] {
            #expect(bash.contains(call), "\(call)")
        }
        #expect(Gatectl.completionScript(for: .zsh).contains("---completion enable -- positional@0"))
        #expect(Gatectl.completionScript(for: .fish).contains("---completion"))
    }

    @Test("--config and --server are read from the shell words, in either form")
    func words() {
        #expect(Completions.value(of: "--config", in: ["gatectl", "--config", "a.conf"]) == "a.conf")
        #expect(Completions.value(of: "--config", in: ["gatectl", "--config=\"b c.conf\""]) == "b c.conf")
        #expect(Completions.value(of: "--server", in: ["gatectl", "enable"]) == nil)
    }
}
