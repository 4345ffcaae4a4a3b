/// The version of this build of Gatehouse.
public enum GatehouseVersion {
    public static let current = "0.1.0"
}
