/// A TOML document as plain values, with the line where each key is written.
///
/// TOMLKit parses the text but gives no positions for keys, so ``TOMLKeyLocator`` scans the
/// (already valid) source once, tracking `[table]` headers, strings, arrays and comments, and maps
/// every key path to its line.
indirect enum TOMLNode: Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    /// A date, time or date-time, kept as text (no pylon key takes one).
    case dateTime(String)
    case array([TOMLNode])
    case table([String: TOMLNode])

    /// "a string", "an integer", ... for messages.
    var typeDescription: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .dateTime: "a date"
        case .array: "an array"
        case .table: "a table"
        }
    }

    /// A short rendering of the value for error messages: `"two"`, `0`, `an array`.
    var shortDescription: String {
        switch self {
        case .string(let text):
            let clipped = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return "\"\(clipped)\""
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return String(value)
        case .dateTime(let text): return text
        case .array, .table: return typeDescription
        }
    }
}

/// Finds the line of each key in TOML source text.
///
/// Paths are the full dotted path: `relays`, `provider.kinds`. A key inside an inline table or an
/// array of tables is found through its nearest written ancestor.
struct TOMLKeyLocator {
    private(set) var lines: [[String]: Int] = [:]

    init(source: String) {
        var scanner = Scanner(bytes: Array(source.utf8))
        scanner.run()
        self.lines = scanner.lines
    }

    /// The line of `path`, or of its nearest ancestor that is written in the file.
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path] { return line }
            path.removeLast()
        }
        return nil
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var table: [String] = []
        var lines: [[String]: Int] = [:]

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        func peek(_ offset: Int) -> UInt8? {
            index + offset < bytes.count ? bytes[index + offset] : nil
        }

        mutating func advance() {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }

        mutating func run() {
            while index < bytes.count {
                let before = index
                statement()
                if index == before { advance() }  // never stall on input this scanner does not expect
            }
        }

        mutating func skipBlank() {
            while let byte = current, byte == 0x20 || byte == 0x09 { index += 1 }
        }

        mutating func skipComment() {
            while let byte = current, byte != UInt8(ascii: "\n") { index += 1 }
        }

        mutating func statement() {
            skipBlank()
            guard let byte = current else { return }
            switch byte {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                advance()
            case UInt8(ascii: "#"):
                skipComment()
            case UInt8(ascii: "["):
                let headerLine = line
                index += 1
                let isArrayOfTables = current == UInt8(ascii: "[")
                if isArrayOfTables { index += 1 }
                let path = keyPath()
                table = path
                if lines[path] == nil { lines[path] = headerLine }
                skipComment()
            default:
                let keyLine = line
                let path = keyPath()
                guard !path.isEmpty else {
                    skipComment()
                    return
                }
                let full = table + path
                if lines[full] == nil { lines[full] = keyLine }
                skipBlank()
                if current == UInt8(ascii: "=") {
                    index += 1
                    skipBlank()
                    skipValue()
                }
            }
        }

        /// Reads `a.b."c d"` and stops at `=`, `]` or the end of the line.
        mutating func keyPath() -> [String] {
            var path: [String] = []
            while true {
                skipBlank()
                guard let byte = current else { return path }
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    path.append(quotedKey(byte))
                } else if isBareKeyByte(byte) {
                    let start = index
                    while let b = current, isBareKeyByte(b) { index += 1 }
                    path.append(String(decoding: bytes[start..<index], as: UTF8.self))
                } else {
                    return path
                }
                skipBlank()
                if current == UInt8(ascii: ".") {
                    index += 1
                    continue
                }
                if current == UInt8(ascii: "]") {
                    index += 1
                    if current == UInt8(ascii: "]") { index += 1 }
                }
                return path
            }
        }

        func isBareKeyByte(_ byte: UInt8) -> Bool {
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }

        mutating func quotedKey(_ quote: UInt8) -> String {
            index += 1
            var key: [UInt8] = []
            while let byte = current, byte != quote, byte != UInt8(ascii: "\n") {
                if quote == UInt8(ascii: "\""), byte == UInt8(ascii: "\\"), let next = peek(1) {
                    // Simple escapes are enough to name a key in a message.
                    key.append(next)
                    index += 2
                    continue
                }
                key.append(byte)
                index += 1
            }
            if current == quote { index += 1 }
            return String(decoding: key, as: UTF8.self)
        }

        /// Skips one value, including multi-line strings and arrays spread over several lines.
        mutating func skipValue() {
            var depth = 0
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    skipString(byte)
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    index += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    index += 1
                    if depth <= 0 { return }
                case UInt8(ascii: "#"):
                    skipComment()
                case UInt8(ascii: "\n"):
                    if depth <= 0 { return }
                    advance()
                default:
                    index += 1
                }
            }
        }

        mutating func skipString(_ quote: UInt8) {
            let isMultiline = peek(1) == quote && peek(2) == quote
            if isMultiline {
                index += 3
                while let byte = current {
                    if quote == UInt8(ascii: "\""), byte == UInt8(ascii: "\\") {
                        advance()
                        if current != nil { advance() }
                        continue
                    }
                    if byte == quote, peek(1) == quote, peek(2) == quote {
                        index += 3
                        // Up to two more quotes may belong to the content: """a""""" ends after five.
                        var extra = 0
                        while extra < 2, current == quote {
                            index += 1
                            extra += 1
                        }
                        return
                    }
                    advance()
                }
                return
            }
            index += 1
            while let byte = current, byte != UInt8(ascii: "\n") {
                if quote == UInt8(ascii: "\""), byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                index += 1
                if byte == quote { return }
            }
        }
    }
}
