import Foundation
import Testing

@testable import GatehouseServer

@Suite("Data-directory files: atomic, exact modes, written only when they change")
struct PrivateFileTests {
    @Test("the same bytes and mode are not written again; a change of either is")
    func writesOnlyChanges() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("private-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PrivateFile.createDirectory(directory)
        let path = "\(directory)/admin.conf"

        #expect(try PrivateFile.write("server: a\n", to: path))
        let first = try FileManager.default.attributesOfItem(atPath: path)
        #expect(first[.posixPermissions] as? Int == 0o600)
        #expect(try PrivateFile.write("server: a\n", to: path) == false)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == first[.systemFileNumber] as? Int,
                "not replaced: same inode")

        #expect(try PrivateFile.write("server: b\n", to: path))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "server: b\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(try PrivateFile.write("server: b\n", to: path), "a widened mode is put back")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["admin.conf"], "no temporary file left")
    }

    @Test("a new directory is created 0700, its parents as needed; an existing one keeps its mode")
    func directoryMode() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("private-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let data = "\(base)/nested/data"
        try PrivateFile.createDirectory(data)
        #expect(try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? Int == 0o700)
        try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: data)
        try PrivateFile.createDirectory(data)
        #expect(try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? Int == 0o750)
        FileManager.default.createFile(atPath: "\(base)/file", contents: Data())
        #expect(throws: (any Error).self) { try PrivateFile.createDirectory("\(base)/file") }
    }
}
