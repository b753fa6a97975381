public import GRDB

/// The first schema, exposed so tests can build a store as the previous version left it.
public enum StoreSchemaV1 {
    public static func migrate(_ db: Database) throws { try Schema.v1(db) }
}
