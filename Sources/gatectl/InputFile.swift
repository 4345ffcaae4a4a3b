import Foundation

/// A file a command reads whole (a catalog, a manifest), or standard input for `-`.
enum InputFile {
    /// The file's text; `what` names it in the error ("the manifest gates.yaml is not UTF-8 text").
    static func read(_ file: String, as what: String) throws -> String {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw InputFileError(message: "cannot read \(what) \(file)")
            }
            data = contents
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputFileError(message: "\(what) \(file) is not UTF-8 text")
        }
        return text
    }
}
