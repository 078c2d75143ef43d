import NIOCore

/// A request body written straight into a `ByteBuffer`: the chat requests are built once per job,
/// and Foundation's `JSONEncoder` cost more than the rest of building and sending them together.
/// Members whose value is nil are left out, as the synthesized `Encodable` would.
struct JSONBody {
    private(set) var buffer: ByteBuffer
    /// True until the current object or array has its first member.
    private var first = true

    init(capacity: Int = 512) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// Writes one object; `members` adds its members.
    static func object(capacity: Int = 512, _ members: (inout JSONBody) -> Void) -> ByteBuffer {
        var body = JSONBody(capacity: capacity)
        body.openObject(members)
        return body.buffer
    }

    mutating func member(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    mutating func member(_ name: StaticString, _ value: Int?) {
        guard let value else { return }
        key(name)
        buffer.writeString(String(value))
    }

    /// A non-finite number has no JSON form and is left out.
    mutating func member(_ name: StaticString, _ value: Double?) {
        guard let value, value.isFinite else { return }
        key(name)
        buffer.writeString(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)")
    }

    mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        buffer.writeStaticString(value ? "true" : "false")
    }

    mutating func member(_ name: StaticString, strings: [String]?) {
        guard let strings else { return }
        key(name)
        openArray { body in
            for text in strings {
                body.element()
                body.string(text)
            }
        }
    }

    mutating func member(_ name: StaticString, messages: [ChatMessage]) {
        key(name)
        openArray { body in
            for message in messages {
                body.element()
                body.openObject { fields in
                    fields.member("role", message.role.rawValue)
                    fields.member("content", message.content)
                }
            }
        }
    }

    mutating func member(_ name: StaticString, object members: (inout JSONBody) -> Void) {
        key(name)
        openObject(members)
    }

    // MARK: Writing

    private mutating func openObject(_ members: (inout JSONBody) -> Void) {
        nested(UInt8(ascii: "{"), UInt8(ascii: "}"), members)
    }

    private mutating func openArray(_ elements: (inout JSONBody) -> Void) {
        nested(UInt8(ascii: "["), UInt8(ascii: "]"), elements)
    }

    /// An object or array between `open` and `close`, with its own first-member state.
    private mutating func nested(_ open: UInt8, _ close: UInt8, _ body: (inout JSONBody) -> Void) {
        buffer.writeInteger(open)
        let outer = first
        first = true
        body(&self)
        first = outer
        buffer.writeInteger(close)
    }

    private mutating func element() {
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
    }

    private mutating func key(_ name: StaticString) {
        element()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    private mutating func string(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var pending = text.utf8.startIndex
        let utf8 = text.utf8
        var index = pending
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                buffer.writeBytes(utf8[pending..<index])
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger(hex[Int(byte >> 4)])
                    buffer.writeInteger(hex[Int(byte & 0x0F)])
                }
                pending = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        buffer.writeBytes(utf8[pending..<utf8.endIndex])
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
