/// PylonTestSupport: fakes and real peers for tests only (STYLE §8).
public import Foundation

/// Locations the tests read from.
public enum TestPaths {
    /// The package root (the directory holding Package.swift).
    public static var packageRoot: URL {
        // Tests/PylonTestSupport/Support.swift → package root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The official test vectors: `../shared/vectors/` next to the project.
    public static var vectors: URL {
        packageRoot.deletingLastPathComponent().appending(path: "shared/vectors", directoryHint: .isDirectory)
    }

    /// A vector file parsed as JSON (Foundation's parser, independent of pylon's own).
    public static func vectorJSON(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: vectors.appending(path: name)))
    }
}
