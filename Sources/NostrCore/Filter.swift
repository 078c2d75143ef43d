/// A NIP-01 subscription filter.
///
/// Every field that is present must match; a present but empty list matches nothing. Tag filters
/// (`#e`, `#p`, …) match when the event has a tag of that single-letter name whose first value is
/// in the list.

public import PylonBasics

public struct Filter: Sendable, Hashable {
    public var ids: Set<EventID>?
    public var authors: Set<PublicKey>?
    public var kinds: Set<Kind>?
    /// Single-letter tag name → accepted first values.
    public var tags: [Character: Set<String>]
    public var since: Int64?
    public var until: Int64?
    public var limit: Int?

    public init(
        ids: Set<EventID>? = nil, authors: Set<PublicKey>? = nil, kinds: Set<Kind>? = nil,
        tags: [Character: Set<String>] = [:], since: Int64? = nil, until: Int64? = nil, limit: Int? = nil
    ) {
        self.ids = ids
        self.authors = authors
        self.kinds = kinds
        self.tags = tags
        self.since = since
        self.until = until
        self.limit = limit
    }

    /// NIP-01 matching, exactly: `since <= created_at <= until`, lists ANDed together.
    public func matches(_ event: Event) -> Bool {
        if let ids, !ids.contains(event.id) { return false }
        if let authors, !authors.contains(event.pubkey) { return false }
        if let kinds, !kinds.contains(event.kind) { return false }
        if let since, event.createdAt < since { return false }
        if let until, event.createdAt > until { return false }
        for (letter, values) in tags {
            let name = String(letter)
            let found = event.tags.contains { tag in
                tag.fields.count > 1 && tag.fields[0] == name && values.contains(tag.fields[1])
            }
            if !found { return false }
        }
        return true
    }

    /// True when any filter matches (the filters of one REQ are ORed).
    public static func anyMatches(_ filters: [Filter], _ event: Event) -> Bool {
        filters.contains { $0.matches(event) }
    }
}

extension Filter {
    /// Writes the filter as a JSON object. Lists are sorted so the text is stable.
    public func write(to writer: inout JSONWriter) {
        writer.raw(UInt8(ascii: "{"))
        var first = true
        func key(_ name: String, _ w: inout JSONWriter) {
            if !first { w.raw(UInt8(ascii: ",")) }
            first = false
            w.string(name)
            w.raw(UInt8(ascii: ":"))
        }
        if let ids {
            key("ids", &writer)
            writer.stringArray(ids.sorted().map(\.hex))
        }
        if let authors {
            key("authors", &writer)
            writer.stringArray(authors.sorted().map(\.hex))
        }
        if let kinds {
            key("kinds", &writer)
            writer.raw(UInt8(ascii: "["))
            for (i, kind) in kinds.sorted().enumerated() {
                if i > 0 { writer.raw(UInt8(ascii: ",")) }
                writer.integer(Int64(kind.rawValue))
            }
            writer.raw(UInt8(ascii: "]"))
        }
        for letter in tags.keys.sorted() {
            key("#\(letter)", &writer)
            writer.stringArray(tags[letter, default: []].sorted())
        }
        if let since {
            key("since", &writer)
            writer.integer(since)
        }
        if let until {
            key("until", &writer)
            writer.integer(until)
        }
        if let limit {
            key("limit", &writer)
            writer.integer(Int64(limit))
        }
        writer.raw(UInt8(ascii: "}"))
    }

    public var jsonString: String {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.string
    }

    /// Parses a filter object. Unknown keys are ignored (NIP-50 `search` and others); known keys
    /// must have the right types and hex must be exact 64-character lowercase (prefixes are gone
    /// from NIP-01).
    public init(json: JSON) throws(NostrError) {
        guard case .object(let members) = json else { throw NostrError(.invalidField, "a filter is a JSON object") }
        self.init()
        func strings(_ value: JSON, _ name: String) throws(NostrError) -> [String] {
            guard case .array(let items) = value else { throw NostrError(.invalidField, "filter \"\(name)\" must be an array") }
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw NostrError(.invalidField, "filter \"\(name)\" must hold strings") }
                out.append(s)
            }
            return out
        }
        func integer(_ value: JSON, _ name: String) throws(NostrError) -> Int64 {
            guard case .integer(let i) = value, i >= 0 else {
                throw NostrError(.invalidField, "filter \"\(name)\" must be a non-negative integer")
            }
            return i
        }
        for member in members {
            switch member.key {
            case "ids":
                var set = Set<EventID>()
                for s in try strings(member.value, "ids") { set.insert(try EventID(hex: s)) }
                ids = set
            case "authors":
                var set = Set<PublicKey>()
                for s in try strings(member.value, "authors") { set.insert(try PublicKey(hex: s)) }
                authors = set
            case "kinds":
                guard case .array(let items) = member.value else { throw NostrError(.invalidField, "filter \"kinds\" must be an array") }
                var set = Set<Kind>()
                for item in items {
                    guard case .integer(let i) = item, let raw = UInt16(exactly: i) else {
                        throw NostrError(.invalidField, "filter \"kinds\" must hold integers 0…65535")
                    }
                    set.insert(Kind(raw))
                }
                kinds = set
            case "since": since = try integer(member.value, "since")
            case "until": until = try integer(member.value, "until")
            case "limit":
                let value = try integer(member.value, "limit")
                limit = Int(clamping: value)
            default:
                let key = member.key
                if key.utf8.count == 2, key.hasPrefix("#"), let letter = key.last, letter.isASCII, letter.isLetter {
                    tags[letter] = Set(try strings(member.value, key))
                }
            }
        }
    }
}
