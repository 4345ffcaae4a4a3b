import GatehouseProto
import Synchronization

/// Routes the PrepareAcks replicas send on their Subscribe streams to the
/// activation that sent the Prepare, by its id.
///
/// `ComponentService` owns one and hands it every ack; `ApiActivations`
/// registers each activation here while it waits. An ack for an id no one
/// waits for (late, after an abort or a commit) is dropped: the decision
/// was made without it.
final class PrepareAckInbox: Sendable {
    /// One replica's answer, with who sent it (from its stream, not from the message).
    struct Answer: Sendable {
        var component: String
        var instanceID: String
        var ack: Gatehouse_V1_PrepareAck
    }

    private let waiting = Mutex<[String: @Sendable (Answer) -> Void]>([:])

    /// Sends acks for `id` to `deliver` until `stopWaiting(for:)`.
    func wait(for id: String, _ deliver: @escaping @Sendable (Answer) -> Void) {
        self.waiting.withLock { $0[id] = deliver }
    }

    func stopWaiting(for id: String) {
        _ = self.waiting.withLock { $0.removeValue(forKey: id) }
    }

    /// Called on the replica's event loop for each PrepareAck it sends.
    func receive(_ ack: Gatehouse_V1_PrepareAck, from key: InstanceRegistry.Key) {
        guard let deliver = self.waiting.withLock({ $0[ack.id] }) else { return }
        deliver(Answer(component: key.component, instanceID: key.instanceID, ack: ack))
    }
}
