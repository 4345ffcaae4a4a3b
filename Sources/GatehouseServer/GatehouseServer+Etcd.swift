import GatehouseCore
import GatehouseStore

extension GatehouseServer {
    /// Serves over an etcd cluster shared with other servers.
    func runOverEtcd(_ settings: EtcdBackendSettings) async throws {
        throw EtcdSettingsError("--store etcd: this build does not include the etcd store yet")
    }
}
