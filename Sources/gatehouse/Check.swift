import ArgumentParser
import Foundation
import GatehouseServer

/// `gatehouse check`: verify a data directory's database offline.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the database of a data directory: every page, record and audit entry.",
        discussion: """
            Runs SQLite's integrity_check over every page, reads every record and audit
            entry back and compares it with the checksum written with it, and checks
            that no audit revision is missing. `gatehouse serve` runs the same row
            checks (with the faster quick_check) at every start and refuses a damaged
            database; this lists everything that is damaged.

            The database is opened read-only and its lock is not taken, so a check
            can run while a server serves the directory: it reads one committed
            state while the server goes on writing, and changes nothing.

            Exit status: 0 when the database is sound, 1 when it is damaged (each
            damaged row or page on its own line), 2 when it cannot be checked at all
            (no database, not a Gatehouse database, a newer schema).

            Examples:
              gatehouse check --data-dir /var/lib/gatehouse
            """
    )

    @Option(help: "The data directory whose gatehouse.db to check.")
    var dataDir = "./gatehouse-data"

    func run() throws {
        let result: DataDirectory.CheckResult
        do {
            result = try DataDirectory(self.dataDir).check()
        } catch {
            FileHandle.standardError.write(Data("gatehouse check: cannot check \(self.dataDir): \(error)\n".utf8))
            throw ExitCode(2)
        }
        print(result.summary)
        guard !result.isClean else {
            print("ok")
            return
        }
        print("DAMAGED: \(result.problems.count) problem\(result.problems.count == 1 ? "" : "s")")
        for problem in result.problems {
            print("  \(problem)")
        }
        print("Restore the data directory from a backup taken before the damage.")
        throw ExitCode(1)
    }
}
