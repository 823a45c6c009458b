/// The value of an account row: its balance plus a small opaque payload (kept so that the
/// bytes per version, and so the WAL bandwidth, resemble a real row).
public struct Row: Sendable, Hashable {
    /// The largest payload a row may carry, in bytes.
    public static let maxPayloadBytes = 1024

    /// The balance in the smallest currency unit.
    public var balance: Int64
    /// Opaque bytes stored with the balance (at most `maxPayloadBytes`).
    public var payload: [UInt8]

    /// Creates a row value.
    public init(balance: Int64, payload: [UInt8] = []) {
        self.balance = balance
        self.payload = payload
    }
}
