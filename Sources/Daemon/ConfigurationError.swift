/// Why a configuration could not be used. Names the file and, for each problem, the line and the
/// key with what was expected. Secret values never appear in it.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The file exists but cannot be read, or is not UTF-8.
        case unreadable
        /// Not valid TOML.
        case syntax
        /// Valid TOML with a wrong type or value.
        case invalidValue = "invalid_value"
    }

    /// One problem at one place.
    public struct Issue: Sendable, Equatable {
        /// The dotted key (`provider.max_concurrent_jobs`), when the problem belongs to one.
        public var key: String?
        public var line: Int?
        public var column: Int?
        public var message: String

        public init(key: String? = nil, line: Int? = nil, column: Int? = nil, message: String) {
            self.key = key
            self.line = line
            self.column = column
            self.message = message
        }
    }

    public var code: Code
    public var file: String
    /// At least one; in file order.
    public var issues: [Issue]

    public init(_ code: Code, file: String, issues: [Issue]) {
        self.code = code
        self.file = file
        self.issues = issues
    }

    /// The first issue's line, for callers that show one place.
    public var line: Int? { issues.first?.line }
    /// The first issue's key.
    public var key: String? { issues.first?.key }

    /// One line per issue: `FILE:LINE: key: message` (`FILE:LINE:COLUMN:` for syntax errors).
    public var description: String {
        issues.map { issue in
            var place = file
            if let line = issue.line {
                place += ":\(line)"
                if let column = issue.column { place += ":\(column)" }
            }
            if let key = issue.key { return "\(place): \(key): \(issue.message)" }
            return "\(place): \(issue.message)"
        }.joined(separator: "\n")
    }
}
