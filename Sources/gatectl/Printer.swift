import Foundation
import GatehouseCore
import SwiftProtobuf
import Yams

/// Prints results as a table for people, or as JSON/YAML for scripts.
///
/// JSON and YAML use protobuf's canonical JSON mapping, so field names in
/// scripts match the .proto files (and JSON escapes control characters).
///
/// Tables show text that others wrote (descriptions, parameter values,
/// reasons, certificate names), so nothing in them may reach the terminal as
/// a control character: every cell is escaped whole (`\n`, `\u{1B}`), and the
/// finished text once more, keeping only the line breaks the table made.
enum Printer {
    static func print<M: SwiftProtobuf.Message>(_ message: M, as format: OutputFormat, table: () -> String) throws {
        switch format {
        case .table, .wide:
            Swift.print(ControlCharacters.escapedKeepingNewlines(table()), terminator: "")
        case .json:
            Swift.print(String(decoding: try Self.prettyJSON(message), as: UTF8.self))
        case .yaml:
            // YAML is a superset of JSON: loading the JSON as YAML keeps integers integers.
            let object = try Yams.load(yaml: String(decoding: try Self.prettyJSON(message), as: UTF8.self))
            Swift.print(try Yams.dump(object: object, sortKeys: true), terminator: "")
        }
    }

    /// One message of a stream of them: JSON as one line (for `jq -c`, line by line), YAML as one
    /// document; a table is the caller's to draw.
    static func streamed<M: SwiftProtobuf.Message>(_ message: M, as format: OutputFormat) throws {
        var options = JSONEncodingOptions()
        options.alwaysPrintInt64sAsNumbers = true
        switch format {
        case .table, .wide:
            preconditionFailure("tables are drawn by the command")
        case .json:
            Swift.print(try message.jsonString(options: options))
        case .yaml:
            let object = try Yams.load(yaml: try message.jsonString(options: options))
            Swift.print("---\n" + (try Yams.dump(object: object, sortKeys: true)), terminator: "")
        }
    }

    private static func prettyJSON<M: SwiftProtobuf.Message>(_ message: M) throws -> Data {
        var options = JSONEncodingOptions()
        options.alwaysPrintInt64sAsNumbers = true
        let compact: Data = try message.jsonUTF8Data(options: options)
        let object = try JSONSerialization.jsonObject(with: compact)
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// Left-aligned columns, two spaces apart, with an upper-case header row; cells escaped.
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows.map { $0.map(ControlCharacters.escaped) }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
