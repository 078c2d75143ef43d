import ArgumentParser
import Foundation

/// Printing for every command: one JSON document on stdout with `--json`, human text otherwise,
/// and errors as one sentence on stderr with a non-zero exit code (SPEC §3).
enum Output {
    /// Encodes a value as pretty JSON with sorted keys and unescaped slashes. Property names are
    /// written in snake case (`durationMs` → `duration_ms`), as SPEC §12 spells every key.
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func line(_ text: String = "") {
        print(text)
    }

    static func warning(_ text: String) {
        FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
    }

    /// Prints `message` to stderr and returns the error that makes argument-parser exit with `code`.
    static func fail(_ message: String, code: Int32 = 1) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode(code)
    }
}

extension FileHandle {
    /// Reads all of standard input as UTF-8 text (nil if it is not UTF-8).
    static func readStandardInput() -> String? {
        String(data: FileHandle.standardInput.readDataToEndOfFile(), encoding: .utf8)
    }
}
