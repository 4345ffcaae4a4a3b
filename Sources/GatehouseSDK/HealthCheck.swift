extension GatehouseComponent {
    /// An application health check the component runs on a schedule.
    ///
    /// The check gets the state the component runs on, so it can say which
    /// feature it suspects ("errors since `FastPath` turned on"). A check that
    /// throws counts as unhealthy, blaming the instance as a whole, with the
    /// error as the message.
    ///
    /// Besides every `interval`, the check runs at once after each server change
    /// is applied, so a canary that breaks under what it was just pushed says so
    /// right after its ack. Keep `interval` well below the bake time of the
    /// rollouts the component takes part in, for trouble that shows later.
    public struct HealthCheck: Sendable {
        /// Time between the end of one check and the start of the next.
        public var interval: Duration
        public var check: @Sendable (StateSnapshot) async throws -> HealthStatus

        public init(every interval: Duration, _ check: @escaping @Sendable (StateSnapshot) async throws -> HealthStatus) {
            precondition(interval > .zero, "a health check needs a positive interval")
            self.interval = interval
            self.check = check
        }
    }
}
