/// NIP-40: the `expiration` tag.
extension Event {
    /// The expiration time, if the event has a well-formed `expiration` tag.
    public var expiration: Int64? {
        guard let value = tagValue("expiration"), let time = Int64(value), time >= 0 else { return nil }
        return time
    }

    /// True when the event has expired at `now` (unix seconds).
    public func isExpired(now: Int64) -> Bool {
        guard let expiration else { return false }
        return expiration <= now
    }
}

extension Tag {
    /// `["expiration", "<unix seconds>"]` (NIP-40).
    public static func expiration(_ time: Int64) -> Tag { ["expiration", String(time)] }
    /// `["e", id]` with an optional relay hint.
    public static func event(_ id: EventID, relay: String? = nil) -> Tag {
        relay.map { ["e", id.hex, $0] } ?? ["e", id.hex]
    }
    /// `["p", pubkey]`.
    public static func pubkey(_ key: PublicKey) -> Tag { ["p", key.hex] }
}
