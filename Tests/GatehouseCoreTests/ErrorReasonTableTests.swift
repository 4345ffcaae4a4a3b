import Foundation
import Testing
@testable import GatehouseCore

/// PROTOCOL.md section 5.1 lists every `ErrorDetails.reason` with its status and metadata keys;
/// a client written from the document alone relies on it, so it must match the code.
@Suite struct ErrorReasonTableTests {
    struct Row: Equatable, CustomStringConvertible {
        var reason: String
        var status: String
        var keys: [String]
        var description: String { "\(self.reason) | \(self.status) | \(self.keys.joined(separator: ", "))" }
    }

    /// The rows of the table under "### 5.1 Refusal reasons", in order.
    static func documentedRows() throws -> [Row] {
        let protocolFile = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("PROTOCOL.md")
        let text = try String(contentsOf: protocolFile, encoding: .utf8)
        guard let start = text.range(of: "\n### 5.1 Refusal reasons\n") else {
            Issue.record("PROTOCOL.md has no section 5.1 Refusal reasons")
            return []
        }
        var rows: [Row] = []
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("#") { break }
            guard line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { continue }
            let keys = cells[3].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }.filter { $0 != "—" }
            rows.append(Row(reason: cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`")), status: cells[2], keys: keys))
        }
        return rows
    }

    /// `invalidArgument` → `INVALID_ARGUMENT`, the wire name of the status.
    static func statusName(_ code: GateError.Code) -> String {
        code.rawValue.reduce(into: "") { name, character in
            if character.isUppercase { name += "_" }
            name += character.uppercased()
        }
    }

    @Test func everyReasonIsDocumentedWithItsStatusAndKeys() throws {
        let documented = try Self.documentedRows()
        let expected = GateError.Reason.allCases.map { reason in
            Row(reason: reason.rawValue, status: Self.statusName(reason.code), keys: reason.metadataKeys)
        }
        #expect(documented.map(\.reason).sorted() == expected.map(\.reason).sorted(), "reasons in PROTOCOL.md 5.1 vs GateError.Reason")
        for row in expected {
            let found = documented.first { $0.reason == row.reason }
            #expect(found == row, "PROTOCOL.md 5.1 says \(found?.description ?? "nothing"); the code says \(row)")
        }
    }

    @Test func reasonsAreUpperSnakeCaseAndUnique() {
        let raw = GateError.Reason.allCases.map(\.rawValue)
        #expect(Set(raw).count == raw.count)
        #expect(raw.allSatisfy { $0.allSatisfy { $0.isUppercase || $0 == "_" } })
    }
}
