import Foundation
import GatehouseEtcd
import Logging
import NIOCore

/// Runs `body` with a fresh LocalEtcd of `members` members and a client to
/// all of them; both are stopped afterwards, whether `body` threw or not.
func withEtcdClient<T>(
    members: Int = 1,
    callTimeout: TimeAmount = .seconds(15),  // generous: etcd shares two loaded cores with the whole suite
    connectTimeout: TimeAmount = .seconds(2),
    _ body: (LocalEtcd, EtcdClient) async throws -> T
) async throws -> T {
    let etcd = try await LocalEtcd.start(members: members)
    defer { etcd.stop() }
    let client = try EtcdClient(configuration: etcd.clientConfiguration(callTimeout: callTimeout, connectTimeout: connectTimeout))
    do {
        let result = try await body(etcd, client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

extension Data {
    /// The UTF-8 bytes of `text` (keys and values in tests).
    static func utf8(_ text: String) -> Data { Data(text.utf8) }
}

extension String {
    /// `bytes` as UTF-8 text.
    init(utf8 bytes: Data) { self = String(decoding: bytes, as: UTF8.self) }
}
