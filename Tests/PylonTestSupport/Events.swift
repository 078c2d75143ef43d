public import NostrCore
import Foundation

/// Signed events for tests.
public enum TestEvents {
    public static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    public static func note(_ keypair: Keypair, _ content: String = "hello", kind: Kind = .textNote, tags: [NostrCore.Tag] = [], createdAt: Int64? = nil) -> Event {
        UnsignedEvent(pubkey: keypair.publicKey, createdAt: createdAt ?? now, kind: kind, tags: tags, content: content).sign(with: keypair)
    }
}
