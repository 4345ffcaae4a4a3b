import Testing
@testable import GatehouseCore

@Suite("Version")
struct VersionTests {
    @Test(arguments: [
        ("1.31.2", Version(1, 31, 2)),
        ("v1.30.0", Version(1, 30, 0)),
        ("1.32.0-alpha.1", Version(1, 32, 0, prerelease: ["alpha", "1"])),
        ("1.31", Version(1, 31, 0)),
        ("v1.29.3+k3s1", Version(1, 29, 3)),
    ])
    func parses(text: String, expected: Version) throws {
        #expect(try Version(parsing: text) == expected)
    }

    @Test(arguments: ["", "1", "1.x.0", "1.2.3.4", "v", "1.2.3-", "1.2.3-al..pha", "1..2", " 1.2.3"])
    func refusesMalformed(text: String) {
        #expect(throws: GateError.self) { try Version(parsing: text) }
    }

    @Test func ordersAsSemanticVersions() throws {
        let ordered = ["1.30.0", "1.30.1", "1.31.0-alpha.1", "1.31.0-alpha.2", "1.31.0-alpha.10", "1.31.0-beta.0", "1.31.0-rc.1", "1.31.0", "1.31.2", "1.32.0", "2.0.0"]
        let versions = try ordered.map { try Version(parsing: $0) }
        for (index, version) in versions.enumerated() {
            for later in versions[(index + 1)...] {
                #expect(version < later, "\(version) < \(later)")
                #expect(!(later < version))
            }
        }
        #expect(try Version(parsing: "1.31.0-1") < Version(parsing: "1.31.0-alpha"), "numeric identifiers sort first")
    }

    @Test func printsCanonicallyAndRoundTrips() throws {
        for text in ["v1.30.0", "1.32.0-alpha.1", "1.31"] {
            let version = try Version(parsing: text)
            #expect(try Version(parsing: version.description) == version)
        }
        #expect(Version(1, 32, 0, prerelease: ["alpha", "1"]).description == "1.32.0-alpha.1")
    }

    @Test func errorSaysWhatIsExpected() {
        do {
            _ = try Version(parsing: "1.x")
            Issue.record("accepted 1.x")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("\"x\" is not a number"))
            #expect(error.message.contains("1.31.2"))
        }
    }
}
