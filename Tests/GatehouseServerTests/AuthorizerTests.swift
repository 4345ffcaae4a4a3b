import GatehouseRPC
import GatehouseTLS
import Logging
import Testing

@testable import GatehouseServer

/// The policy's matching and the role × access matrix, without a network.
@Suite struct AuthorizerTests {
    static func identity(cn: String, o: [String] = [], ou: [String] = [], uris: [String] = []) -> TLSPeerIdentity {
        TLSPeerIdentity(
            commonName: cn,
            organizations: o,
            organizationalUnits: ou,
            dnsNames: [],
            uris: uris,
            ipAddresses: [],
            emails: [],
            fingerprintSHA256: "00",
            subject: "CN=\(cn)"
        )
    }

    static func context(_ identity: TLSPeerIdentity?, path: String = "/gatehouse.v1.Features/Set") -> RPCServerContext {
        RPCServerContext(path: path, metadata: Metadata(), deadline: nil, peer: identity, remoteAddress: nil, logger: Logger(label: "test"))
    }

    static let policyText = """
        bindings:
          - role: admin
            subjects:
              - common_name: alice
          - role: operator
            subjects:
              - organization: sre
                organizational_unit: platform
          - role: viewer
            subjects:
              - organization: dashboards
          - role: component
            subjects:
              - uri_prefix: "spiffe://cluster/component/"
        """

    @Test func matchesEveryFieldAMatcherSets() throws {
        let policy = try AccessPolicy.parse(yaml: Self.policyText, source: "test")
        #expect(policy.roles(of: Self.identity(cn: "alice")) == [.admin])
        #expect(policy.roles(of: Self.identity(cn: "bob", o: ["sre"], ou: ["platform"])) == [.operator])
        #expect(policy.roles(of: Self.identity(cn: "bob", o: ["sre"])).isEmpty, "OU is required too")
        #expect(policy.roles(of: Self.identity(cn: "kubelet", uris: ["spiffe://cluster/component/kubelet"])) == [.component])
        #expect(policy.roles(of: Self.identity(cn: "mallory", o: ["admin"])).isEmpty, "default deny")
    }

    @Test func refusesAPolicyWithAnEmptySubject() {
        #expect(throws: PolicyError.self) {
            try AccessPolicy.parse(yaml: "bindings:\n  - role: admin\n    subjects:\n      - {}\n", source: "test")
        }
        #expect(throws: PolicyError.self) {
            try AccessPolicy.parse(yaml: "bindings:\n  - role: root\n    subjects:\n      - common_name: x\n", source: "test")
        }
    }

    /// Each role × each access level.
    @Test(arguments: [
        (Role.admin, MethodAccess.anyRole, true), (.admin, .read, true), (.admin, .operate, true), (.admin, .administer, true), (.admin, .componentSelf, true),
        (.operator, .anyRole, true), (.operator, .read, true), (.operator, .operate, true), (.operator, .administer, false), (.operator, .componentSelf, false),
        (.viewer, .anyRole, true), (.viewer, .read, true), (.viewer, .operate, false), (.viewer, .administer, false), (.viewer, .componentSelf, false),
        (.component, .anyRole, true), (.component, .read, true), (.component, .operate, false), (.component, .administer, false), (.component, .componentSelf, true),
    ])
    func theRoleMatrix(_ role: Role, _ access: MethodAccess, _ allowed: Bool) {
        let policy = AccessPolicy(bindings: [.init(role: role, subjects: [.init(commonName: "caller")])])
        let authorizer = Authorizer(policy: policy)
        let result = Result { try authorizer.check(access, Self.context(Self.identity(cn: "caller"))) }
        let granted = (try? result.get()) != nil
        #expect(granted == allowed)
        if case .failure(let error as RPCError) = result {
            #expect(error.code == .permissionDenied)
            #expect(error.message.contains("caller"))
        }
    }

    @Test func noRoleMeansNothingAtAll() {
        let authorizer = Authorizer(policy: AccessPolicy(bindings: []))
        #expect(throws: RPCError.self) { try authorizer.check(.anyRole, Self.context(Self.identity(cn: "x"))) }
        #expect(throws: RPCError.self) { try authorizer.check(.anyRole, Self.context(nil)) }
    }

    @Test func aComponentActsOnlyForItself() {
        let kubelet = Principal(identity: Self.identity(cn: "kubelet"), roles: [.component])
        #expect(kubelet.mayActFor(component: "kubelet"))
        #expect(!kubelet.mayActFor(component: "kube-apiserver"))
        let viewer = Principal(identity: Self.identity(cn: "dash"), roles: [.viewer])
        #expect(viewer.mayActFor(component: "kube-apiserver"))
    }

    @Test func theDevelopmentPolicyMakesTheDevAdminAnAdmin() throws {
        let policy = try AccessPolicy.parse(yaml: try AccessPolicy.development.yaml(), source: "dev")
        #expect(policy == AccessPolicy.development)
        #expect(policy.roles(of: Self.identity(cn: "admin", o: ["admin"])).contains(.admin))
        #expect(policy.roles(of: Self.identity(cn: "kubelet", o: ["component"])) == [.component])
    }
}
