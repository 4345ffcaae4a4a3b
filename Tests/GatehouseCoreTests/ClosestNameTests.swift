import Testing
@testable import GatehouseCore

@Suite("Did you mean")
struct ClosestNameTests {
    @Test(arguments: [
        ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3), ("kube-scheduler", "kube-schedular", 1),
        ("flaw", "lawn", 2), ("same", "same", 0),
    ])
    func editDistance(_ a: String, _ b: String, _ expected: Int) {
        #expect(ClosestName.distance(a, b) == expected)
        #expect(ClosestName.distance(b, a) == expected)
    }

    @Test func suggestsTheClosestPlausibleName() {
        let components = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]
        #expect(ClosestName.suggestion(for: "kube-schedular", among: components) == "kube-scheduler")
        #expect(ClosestName.suggestion(for: "kublet", among: components) == "kubelet")
        #expect(ClosestName.suggestion(for: "inplacepodverticalscaling", among: ["InPlacePodVerticalScaling", "SidecarContainers"]) == "InPlacePodVerticalScaling")
    }

    @Test func suggestsNothingWhenNothingIsClose() {
        #expect(ClosestName.suggestion(for: "etcd", among: ["kube-apiserver", "kubelet"]) == nil)
        #expect(ClosestName.suggestion(for: "x", among: [String]()) == nil)
        #expect(ClosestName.suggestion(for: "kubelet", among: ["kubelet"]) == nil, "the name itself is not a suggestion")
    }

    @Test func tiesGoToTheNameThatSortsFirst() {
        #expect(ClosestName.suggestion(for: "nodeb", among: ["nodec", "nodea"]) == "nodea")
    }
}
