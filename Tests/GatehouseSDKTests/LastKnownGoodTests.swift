import Foundation
import Logging
import Testing
@testable import GatehouseSDK

@Suite("Last-known-good file")
struct LastKnownGoodTests {
    let logger = Logger(label: "test")

    func saved(component: String = "kubelet") throws -> LastKnownGood {
        LastKnownGood(
            component: component,
            instanceID: "node-1",
            version: "1.32.0",
            savedAtUnixMilliseconds: 1_760_000_000_123,
            snapshot: sampleSnapshot(revision: 42)
        )
    }

    @Test("encode then decode gives the same value")
    func roundTrip() throws {
        let original = try self.saved()
        let data = try original.encoded()
        #expect(try LastKnownGood.decode(data, expectedComponent: "kubelet") == original)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"format\":\"gatehouse.sdk.last-known-good/1\""))
        #expect(text.contains("AlphaThing"), "readable by an operator")
    }

    @Test("written atomically and loaded for boot, stages and revision intact")
    func fileRoundTrip() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/state.json"
        try AtomicFile.write(try self.saved().encoded(), to: path)
        try AtomicFile.write(try self.saved().encoded(), to: path)  // replacing works too
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["state.json"], "no temporary file left")
        let fallback = BootFallback.load(path: path, component: "kubelet", hints: .init(), logger: self.logger)
        #expect(fallback.source == .lastKnownGood(revision: 42, savedAt: Date(timeIntervalSince1970: 1_760_000_000.123)))
        #expect(fallback.cache == (try EffectiveCache.from(sampleSnapshot(revision: 42))))
    }

    @Test("a corrupt, truncated, foreign or missing file falls back to compiled defaults with the reason")
    func fallbacks() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/state.json"
        let good = try self.saved().encoded()

        func reason() -> String? {
            let fallback = BootFallback.load(path: path, component: "kubelet", hints: .init(), logger: self.logger)
            #expect(fallback.cache == nil)
            guard case .compiledDefaults(let reason) = fallback.source else { return nil }
            return reason
        }

        #expect(reason()?.contains("no last-known-good file") == true)
        try Data("garbage{".utf8).write(to: URL(fileURLWithPath: path))
        #expect(reason()?.contains("not JSON") == true)
        try good.prefix(good.count - 10).write(to: URL(fileURLWithPath: path))
        #expect(reason()?.contains("not JSON") == true)
        try self.saved(component: "kube-proxy").encoded().write(to: URL(fileURLWithPath: path))
        #expect(reason()?.contains("kube-proxy") == true)
        try Data(#"{"format":"something-else/9"}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(reason()?.contains("something-else/9") == true)
        let badSnapshot = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"revision\":\"42\"", with: "\"revision\":\"forty-two\"")
        try Data(badSnapshot.utf8).write(to: URL(fileURLWithPath: path))
        #expect(reason()?.contains("snapshot is invalid") == true)
        let none = BootFallback.load(path: nil, component: "kubelet", hints: .init(), logger: self.logger)
        #expect(none.source == .compiledDefaults(reason: "no last-known-good file is configured"))
    }

    @Test("a write into a missing directory fails with the path, leaving nothing behind")
    func writeFailure() throws {
        #expect {
            try AtomicFile.write(Data("x".utf8), to: "/nonexistent-dir-\(UUID().uuidString)/state.json")
        } throws: { error in
            String(describing: error).contains("open failed")
        }
    }
}
