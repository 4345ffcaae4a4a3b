import GatehouseCore
import GatehouseEtcd
import GatehouseStore
import Logging
import NIOCore

extension GatehouseServer {
    /// Serves over an etcd cluster shared with other servers (`--store etcd`).
    ///
    /// The client first, then the store over it (loaded from one etcd
    /// revision and watching the prefix from the next); other servers'
    /// commits are relayed to this server's subscribers from before the
    /// subscription hub reads its first state. Once listening, the server
    /// joins the others: an etcd session (a lease, `<prefix>servers/<id>`),
    /// its instances shared under that lease, and the rollout election. On
    /// shutdown it leaves in the reverse order: the driver resigns, the
    /// session's lease is revoked (its instances go at once), the store closes,
    /// and the client last, since every one of those still talks to etcd.
    func runOverEtcd(_ settings: EtcdBackendSettings, metricsAddress: SocketAddress?) async throws {
        let serverID = try self.configuration.serverID(over: settings)
        let logger = {
            var logger = self.logger
            logger[metadataKey: "server_id"] = "\(serverID)"
            return logger
        }()
        let client = try EtcdClient(configuration: settings.clientConfiguration, group: self.group, logger: logger)
        do {
            let store = try await EtcdGateStore<GateState>.open(
                kv: client,
                prefix: settings.prefix,
                logger: logger,
                initialState: { try GateRecords.state(from: $0) },
                advance: { state, record in state.replaying(try GateRecords.summary(from: record)) }
            )
            let state = store.snapshot.state
            logger.info(
                "state loaded",
                metadata: [
                    "store": "\(store.name)", "revision": "\(state.revision)", "features": "\(state.features.count)", "apis": "\(state.apis.count)",
                ]
            )
            // Before the hub reads the store's state: see ForeignCommitRelay.
            let relay = ForeignCommitRelay(logger: logger)
            store.observeCommits { record, endsGroup in relay.receive(record, endsGroup: endsGroup) }
            var peers = Peers(serverID: serverID, foreignCommits: relay) { address, registry in
                let session = try await EtcdSession.start(kv: client, prefix: settings.prefix, serverID: serverID, address: address, logger: logger)
                let election = LeaderElection(session: session, name: "rollouts", logger: logger)
                let shared = SharedInstances(registry: registry, session: session, logger: logger)
                return Membership(
                    leadership: election,
                    run: { await shared.run() },
                    leave: {
                        // What the last flush did not write goes with the lease anyway.
                        await session.close()
                    }
                )
            }
            peers.storeCheck = {
                do {
                    try await store.checkReachable()
                    return nil
                } catch {
                    let reason = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
                    return "etcd does not answer, so this server cannot commit: \(reason)"
                }
            }
            try await self.serving(store, peers: peers, metricsAddress: metricsAddress)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }
}

/// Over etcd, the rollout driver runs while this server holds `<prefix>leader/rollouts`.
extension LeaderElection: RolloutLeadership {}

extension EtcdBackendSettings {
    /// The etcd client's configuration: these endpoints, certificates and call timeout.
    var clientConfiguration: EtcdClientConfiguration {
        EtcdClientConfiguration(
            endpoints: self.endpoints,
            trustRootsPath: self.trustRoots,
            certificatePath: self.certificateChain,
            privateKeyPath: self.privateKey,
            callTimeout: TimeAmount(self.callTimeout)
        )
    }
}
