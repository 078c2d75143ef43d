/// A secret string (an NWC URI, an API key): it prints as `<redacted>` everywhere (`description`,
/// `debugDescription`, `dump`, string interpolation, log metadata) and compares in constant time.
/// Read the value only where it is used, through ``revealed``.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) {
        self.value = value
    }

    /// The secret itself. Never log it or put it in an error message.
    public var revealed: String { value }

    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "Secret(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Constant-time in the length of the longer value: no early exit on the first difference.
    public static func == (lhs: Secret, rhs: Secret) -> Bool {
        let a = Array(lhs.value.utf8)
        let b = Array(rhs.value.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
