import Foundation
import GRDB
import NostrCore
import PylonBasics

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

    mutating func date() throws -> Date {
        let text = try self.text()
        guard let date = RFC3339.date(from: text) else {
            index -= 1
            throw fail("holds \"\(text.prefix(40))\", not an RFC 3339 time")
        }
        return date
    }

    mutating func optionalDate() throws -> Date? {
        guard let text = try optionalText() else { return nil }
        guard let date = RFC3339.date(from: text) else {
            index -= 1
            throw fail("holds \"\(text.prefix(40))\", not an RFC 3339 time")
        }
        return date
    }

    mutating func eventID() throws -> EventID {
        let text = try self.text()
        guard let id = try? EventID(hex: text) else {
            index -= 1
            throw fail("is not an event id")
        }
        return id
    }

    mutating func optionalEventID() throws -> EventID? {
        guard let text = try optionalText() else { return nil }
        guard let id = try? EventID(hex: text) else {
            index -= 1
            throw fail("is not an event id")
        }
        return id
    }

    mutating func publicKey() throws -> PublicKey {
        let text = try self.text()
        guard let key = try? PublicKey(hex: text) else {
            index -= 1
            throw fail("is not a public key")
        }
        return key
    }

    mutating func optionalPublicKey() throws -> PublicKey? {
        guard let text = try optionalText() else { return nil }
        guard let key = try? PublicKey(hex: text) else {
            index -= 1
            throw fail("is not a public key")
        }
        return key
    }

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
