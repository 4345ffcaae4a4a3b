import Testing

@testable import GatehouseCore

/// Names ride inside Kubernetes flag syntax; the checks run on every toggle,
/// on the UTF-8 bytes for ASCII names and on Unicode properties otherwise.
@Suite struct NamesTests {
    @Test(arguments: ["kube-apiserver", "node-17", "10.0.0.4:6443", "ünïcødé-node", "a", String(repeating: "n", count: 253)])
    func acceptedComponentOrInstanceNames(_ name: String) {
        #expect(Names.isValidComponentOrInstance(name))
    }

    @Test(arguments: [
        "", "kube let", "tab\there", "line\nbreak", "a=b", "a,b", "a/b", "nbsp\u{00A0}node", "ideographic\u{3000}space",
        String(repeating: "n", count: 254), String(repeating: "ü", count: 254),
        // Control characters forge log lines and drive terminals.
        "esc\u{1B}[31mred", "nul\u{0}", "del\u{7F}", "bell\u{07}", "c1\u{85}next", "csi\u{9B}2J",
        "bidi\u{202E}fdp.exe", "isolate\u{2066}x", "zero\u{200B}width", "line\u{2028}sep", "para\u{2029}sep",
        "ünï\u{1B}code",
    ])
    func refusedComponentOrInstanceNames(_ name: String) {
        #expect(!Names.isValidComponentOrInstance(name))
    }

    @Test func featureAndParameterNamesAreASCIIIdentifiers() {
        for name in ["InPlacePodVerticalScaling", "a", "Gate_2.beta-1", String(repeating: "G", count: 253)] {
            #expect(Names.isValidFeatureName(name), "\(name)")
            #expect(Names.isValidParameterName(name), "\(name)")
        }
        for name in ["", "2Fast", "_x", "-x", "Gäte", "Gate X", "A=B", "A,B", "A/B", String(repeating: "G", count: 254)] {
            #expect(!Names.isValidFeatureName(name), "\(name)")
        }
    }

    @Test func controlCharactersAreEscapedForDisplay() {
        #expect(ControlCharacters.escaped("plain ünïcødé \\d+") == "plain ünïcødé \\d+")
        #expect(ControlCharacters.escaped("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(ControlCharacters.escaped("\u{1B}[2J\u{7F}\u{85}\u{202E}\u{2028}") == "\\u{1B}[2J\\u{7F}\\u{85}\\u{202E}\\u{2028}")
        #expect(ControlCharacters.escapedKeepingNewlines("one\ntwo\u{1B}") == "one\ntwo\\u{1B}")
        #expect(!ControlCharacters.occur(in: ControlCharacters.escaped("x\u{0}\u{9F}\u{2029}y")))
    }
}
