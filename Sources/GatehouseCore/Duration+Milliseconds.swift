extension Duration {
    /// The duration in whole milliseconds (rounded toward zero): how the protocol,
    /// the store and the command line count time.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}
