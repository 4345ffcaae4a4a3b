/// The version of this build of Gatehouse, the same for the server, gatectl and
/// the SDK: kept here, at the bottom of the layers, so every executable can say it.
public enum BuildVersion {
    public static let current = "0.1.0"
}
