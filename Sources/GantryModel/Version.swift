/// The Gantry release these binaries belong to.
public enum GantryVersion {
    public static let current = "0.1.0"
}
