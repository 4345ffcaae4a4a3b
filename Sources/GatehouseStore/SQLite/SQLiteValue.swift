/// A value bound to a statement parameter, in SQLite's own storage classes.
package enum SQLiteValue: Hashable, Sendable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}
