import ArgumentParser
import Foundation
import GatehouseClient

/// Writes batches from many connections and prints each acknowledged one,
/// so a test can kill the server and check that every ack survived.
struct CrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer",
        abstract: "Each writer commits batches that enable CrashA and CrashB on instance <round>-w<N>-b<K>; prints ACK lines.",
        discussion: "Output, one line per acknowledged batch: ACK <revision> <instance>. Runs until the server goes away."
    )

    @Option(help: "Client config of an operator or admin.")
    var config: String

    @Option(help: "Concurrent writers, one mTLS connection each.")
    var writers = 64

    @Option(help: "A prefix that makes this run's instance ids unique.")
    var round = "r0"

    func run() async throws {
        let clients = try await Writers.connect(count: self.writers, configPath: self.config)
        try await Writers.defineFeatures(["CrashA", "CrashB"], using: clients[0])
        FileHandle.standardOutput.write(Data("READY\n".utf8))
        await withTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    var batch = 0
                    while true {
                        let instance = "\(self.round)-w\(index)-b\(batch)"
                        let request = Writers.setRequest(
                            features: ["CrashA", "CrashB"], component: "crash", instance: instance, enabled: true, reason: "crash test"
                        )
                        do {
                            let response: Gatehouse_V1_SetResponse = try await client.connection.unary("/gatehouse.v1.Features/Set", request)
                            // One write(2) per line, so a kill never leaves half a line that parses.
                            FileHandle.standardOutput.write(Data("ACK \(response.revision) \(instance)\n".utf8))
                        } catch {
                            return
                        }
                        batch += 1
                    }
                }
            }
        }
    }
}
