import EtcdProto
import Foundation
import GatehouseEtcd
import Logging
import Synchronization
import Testing

/// LeaderElection among three servers on a real etcd: exactly one leads,
/// another takes over when it resigns or its session dies, and the old
/// leader's job is cancelled before the new one's starts.
@Suite("cluster: leader election", .serialized, .localEtcd)
struct ClusterElectionTests {
    static let logger = Logger(label: "test.election")

    /// Who is running the job now, and the most that ever ran it at once.
    final class Jobs: Sendable {
        private let state = Mutex<(running: Set<String>, most: Int, started: [String])>(([], 0, []))

        func run(_ id: String) async {
            self.state.withLock {
                $0.running.insert(id)
                $0.most = max($0.most, $0.running.count)
                $0.started.append(id)
            }
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
            _ = self.state.withLock { $0.running.remove(id) }
        }

        var running: Set<String> { self.state.withLock { $0.running } }
        var most: Int { self.state.withLock { $0.most } }
        var started: [String] { self.state.withLock { $0.started } }
    }

    struct Server {
        let id: String
        let kv: Partitionable
        let session: EtcdSession
        let election: LeaderElection
        let campaign: Task<Void, Never>
    }

    static func server(_ id: String, client: any EtcdKV, jobs: Jobs) async throws -> Server {
        let kv = Partitionable(client)
        let session = try await EtcdSession.start(kv: kv, prefix: "/gh/", serverID: id, address: id, ttl: .seconds(2), logger: Self.logger)
        let election = LeaderElection(session: session, name: "rollouts", retryInterval: .milliseconds(200), logger: Self.logger)
        let campaign = Task { await election.whileLeading { await jobs.run(id) } }
        return Server(id: id, kv: kv, session: session, election: election, campaign: campaign)
    }

    static func leaderKey(_ client: any EtcdKV) async throws -> String? {
        try await client.range(.with { $0.key = .utf8("/gh/leader/rollouts") }).kvs.first.map { String(utf8: $0.value) }
    }

    @Test("exactly one of three leads; when it resigns another takes over at once")
    func oneLeaderThenAnother() async throws {
        try await withEtcdClient { _, client in
            let jobs = Jobs()
            var servers: [Server] = []
            for id in ["a", "b", "c"] { servers.append(try await Self.server(id, client: client, jobs: jobs)) }
            #expect(await eventually { jobs.running.count == 1 })
            let first = try #require(jobs.running.first)
            #expect(try await Self.leaderKey(client) == first)
            #expect(servers.filter { $0.election.isLeading }.map(\.id) == [first])

            // The leader shuts down: it resigns, and another leads without waiting out a TTL.
            let leader = try #require(servers.first { $0.id == first })
            leader.campaign.cancel()
            await leader.campaign.value
            #expect(try await Self.leaderKey(client) != first, "resigned: its key deleted, its session still open")
            #expect(await eventually(timeout: .seconds(1.5)) { jobs.running.count == 1 && !jobs.running.contains(first) })
            let second = try #require(jobs.running.first)
            #expect(try await Self.leaderKey(client) == second)
            #expect(jobs.most == 1, "never two leaders at once")
            await leader.session.close()

            for server in servers where server.id != first {
                server.campaign.cancel()
                await server.campaign.value
                await server.session.close()
            }
            #expect(try await Self.leaderKey(client) == nil)
        }
    }

    @Test("a leader cut off from etcd stops its job before another server's lease-expired takeover starts one")
    func partitionedLeaderIsReplaced() async throws {
        try await withEtcdClient { _, client in
            let jobs = Jobs()
            var servers: [Server] = []
            for id in ["a", "b", "c"] { servers.append(try await Self.server(id, client: client, jobs: jobs)) }
            #expect(await eventually { jobs.running.count == 1 })
            let first = try #require(jobs.running.first)
            let leader = try #require(servers.first { $0.id == first })

            leader.kv.partition()
            #expect(await eventually { jobs.running.count == 1 && !jobs.running.contains(first) }, "taken over after the TTL")
            #expect(jobs.most == 1, "the cut-off leader's job was cancelled before the next leader's started")
            #expect(!leader.election.isLeading)
            let second = try #require(jobs.running.first)
            #expect(try await Self.leaderKey(client) == second)

            // Healed, it follows: the leadership stays where it is.
            leader.kv.heal()
            #expect(await eventually { leader.session.lease != nil })
            try await Task.sleep(for: .milliseconds(500))
            #expect(jobs.running == [second])
            #expect(jobs.most == 1)

            for server in servers {
                server.campaign.cancel()
                await server.campaign.value
                await server.session.close()
            }
        }
    }
}
