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
}
