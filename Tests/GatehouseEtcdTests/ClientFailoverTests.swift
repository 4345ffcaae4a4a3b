import Foundation
import EtcdProto
import GatehouseEtcd
import NIOCore
import Testing

/// Failover across a real 3-member cluster: a dead member, a minority member.
@Suite("etcd client: failover", .serialized, .localEtcd)
struct ClientFailoverTests {
    private static func put(_ client: EtcdClient, _ key: String) async throws {
        var request = Etcdserverpb_PutRequest()
        request.key = .utf8(key)
        request.value = .utf8("v")
        _ = try await client.put(request)
    }

    @Test("when the member it uses is killed, the next call goes to the next endpoint")
    func killedMember() async throws {
        try await withEtcdClient(members: 3) { etcd, client in
            try await Self.put(client, "/f/1")
            #expect(client.connectedEndpoint == etcd.endpoints[0])
            etcd.kill(member: 0)
            // A read first: a write racing the client's noticing of the kill could have
            // been sent into the dying connection, and would rightly not be retried.
            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/f/")
            range.rangeEnd = Data(KeyRange.prefixEnd(of: Array("/f/".utf8)))
            #expect(try await client.range(range).kvs.count == 1)
            // Member 1 normally; member 2 if member 1 answered "no leader" while the two elected a new one.
            #expect(client.connectedEndpoint != etcd.endpoints[0])
            try await Self.put(client, "/f/2")
            #expect(try await client.range(range).kvs.count == 2)
        }
    }

    @Test("a first endpoint that refuses connections is skipped within the call")
    func refusedFirstEndpoint() async throws {
        try await withEtcdClient(members: 3) { etcd, _ in
            etcd.stop(member: 0)
            let client = try EtcdClient(configuration: etcd.clientConfiguration())
            try await Self.put(client, "/f/x")
            #expect(client.connectedEndpoint == etcd.endpoints[1])
            await client.close()
        }
    }

    @Test("a member left in a minority (the other two SIGSTOPped) gives .unavailable within the deadline, never a hang")
    func minority() async throws {
        let callTimeout = TimeAmount.seconds(3)
        try await withEtcdClient(members: 3, callTimeout: callTimeout, connectTimeout: .seconds(1)) { etcd, client in
            try await Self.put(client, "/m/before")
            etcd.pause(member: 1)
            etcd.pause(member: 2)
            defer {
                etcd.resume(member: 1)
                etcd.resume(member: 2)
            }
            let clock = ContinuousClock()
            let limit = Duration.nanoseconds(callTimeout.nanoseconds) + .milliseconds(750)
            // Until member 0 notices it lost its quorum (an election timeout), a write may
            // wait for raft and time out instead; every call must still end by its deadline.
            var unavailable: EtcdError?
            for _ in 0..<6 where unavailable == nil {
                let started = clock.now
                do {
                    try await Self.put(client, "/m/during")
                    Issue.record("a write succeeded without a quorum")
                } catch let error as EtcdError {
                    #expect(clock.now - started < limit, "took \(clock.now - started): \(error)")
                    switch error.code {
                    case .unavailable: unavailable = error
                    case .deadlineExceeded: #expect(error.mayHaveApplied)
                    case .compacted, .rejected, .closed: Issue.record("unexpected \(error)")
                    }
                }
            }
            let error = try #require(unavailable)
            #expect(!error.mayHaveApplied, "\(error)")
            // A read fails the same way, also in time.
            let started = clock.now
            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/m/before")
            let readError = try await #require(throws: EtcdError.self) { try await client.range(range) }
            #expect(readError.code == .unavailable, "\(readError)")
            #expect(clock.now - started < limit)

            etcd.resume(member: 1)
            etcd.resume(member: 2)
            try await etcd.waitUntilHealthy()
            try await Self.put(client, "/m/after")
        }
    }
}

/// A member that hangs: the connection stays open, nothing answers.
@Suite("etcd client: a hung member", .serialized, .localEtcd)
struct ClientHungMemberTests {
    @Test("after a call times out on a SIGSTOPped member, a PING goes unanswered and later calls go to the next endpoint")
    func hungMember() async throws {
        try await withEtcdClient(members: 3, callTimeout: .seconds(2), connectTimeout: .seconds(1)) { etcd, client in
            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/h")
            _ = try await client.range(range)
            #expect(client.connectedEndpoint == etcd.endpoints[0])
            etcd.pause(member: 0)
            defer { etcd.resume(member: 0) }

            var put = Etcdserverpb_PutRequest()
            put.key = .utf8("/h")
            let timedOut = try await #require(throws: EtcdError.self) { try await client.put(put) }
            #expect(timedOut.code == .deadlineExceeded)
            #expect(timedOut.mayHaveApplied)

            // The probe gives up on member 0 within the connect timeout; this read is
            // retried on the next member within its own deadline.
            let clock = ContinuousClock()
            let started = clock.now
            _ = try await client.range(range)
            #expect(clock.now - started < .seconds(2))
            #expect(client.connectedEndpoint != etcd.endpoints[0])
            _ = try await client.put(put)
        }
    }
}
