import GatehouseCore

/// The version of this build of Gatehouse (``BuildVersion``), as the server reports it in `Server/Info`.
public enum GatehouseVersion {
    public static let current = BuildVersion.current
}
