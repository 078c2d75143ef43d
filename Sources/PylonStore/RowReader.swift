import GRDB
import NostrCore
import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads a row's columns in select order, turning anything unexpected into ``PylonStoreError``
/// with the code `corrupt_data` (never a trap: the file may have been edited by hand).
struct RowReader {
    let row: Row
    let table: String
    private(set) var index = 0

    init(_ row: Row, table: String) {
        self.row = row
        self.table = table
    }

    var columnName: String {
        let names = Array(row.columnNames)
        return index < names.count ? names[index] : "#\(index)"
    }

    func fail(_ problem: String) -> PylonStoreError {
        PylonStoreError(.corruptData, "\(table).\(columnName) \(problem)")
    }

    mutating func next<T: DatabaseValueConvertible & StatementColumnConvertible>(_ type: T.Type = T.self) throws -> T {
        guard index < row.count else { throw fail("is missing from the row") }
        do {
            let value = try row.decode(T.self, atIndex: index)
            index += 1
            return value
        } catch {
            throw PylonStoreError(.corruptData, "\(table).\(columnName) does not decode as \(T.self): \(error)", cause: error)
        }
    }

    mutating func text() throws -> String { try next(String.self) }
    mutating func optionalText() throws -> String? { try next(String?.self) }
    mutating func int64() throws -> Int64 { try next(Int64.self) }
    mutating func optionalInt64() throws -> Int64? { try next(Int64?.self) }
    mutating func int() throws -> Int { try next(Int.self) }
    mutating func optionalInt() throws -> Int? { try next(Int?.self) }
    mutating func bool() throws -> Bool { try next(Int64.self) != 0 }

    /// The next column's text made into a value by `convert`; text it refuses is `corrupt_data`,
    /// with the column named and `problem` saying what the text is not.
    mutating func converted<Value>(_ problem: (String) -> String, _ convert: (String) -> Value?) throws -> Value {
        let text = try self.text()
        guard let value = convert(text) else {
            index -= 1
            throw fail(problem(text))
        }
        return value
    }

    /// As ``converted(_:_:)``, for a column that may be NULL.
    mutating func optionalConverted<Value>(_ problem: (String) -> String, _ convert: (String) -> Value?) throws -> Value? {
        guard try next(String?.self) != nil else { return nil }
        index -= 1
        return try converted(problem, convert)
    }

    private static func notTime(_ text: String) -> String { "holds \"\(text.prefix(40))\", not an RFC 3339 time" }

    mutating func date() throws -> Date { try converted(Self.notTime, RFC3339.date(from:)) }
    mutating func optionalDate() throws -> Date? { try optionalConverted(Self.notTime, RFC3339.date(from:)) }
    mutating func eventID() throws -> EventID { try converted({ _ in "is not an event id" }, { try? EventID(hex: $0) }) }
    mutating func optionalEventID() throws -> EventID? { try optionalConverted({ _ in "is not an event id" }, { try? EventID(hex: $0) }) }
    mutating func publicKey() throws -> PublicKey { try converted({ _ in "is not a public key" }, { try? PublicKey(hex: $0) }) }
    mutating func optionalPublicKey() throws -> PublicKey? { try optionalConverted({ _ in "is not a public key" }, { try? PublicKey(hex: $0) }) }

    mutating func kind() throws -> Kind {
        let value = try int64()
        guard let raw = UInt16(exactly: value) else {
            index -= 1
            throw fail("is not an event kind")
        }
        return Kind(raw)
    }

    mutating func json() throws -> JSON {
        let column = "\(table).\(columnName)"
        return try StoreJSON.parse(try text(), column: column)
    }

    mutating func strings() throws -> [String] {
        let column = "\(table).\(columnName)"
        return try StoreJSON.parseStrings(try text(), column: column)
    }

    mutating func enumeration<E: RawRepresentable>(_ type: E.Type) throws -> E where E.RawValue == String {
        let text = try self.text()
        guard let value = E(rawValue: text) else {
            index -= 1
            throw fail("holds \"\(text.prefix(40))\", not a known value")
        }
        return value
    }
}
