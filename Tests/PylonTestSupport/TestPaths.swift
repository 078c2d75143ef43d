public import Foundation

/// Where tests find the package and the shared test vectors, independent of the working directory
/// `swift test` runs in.
public enum TestPaths {
    /// The package root, from this file's compile-time path (`<root>/Tests/PylonTestSupport/…`).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // PylonTestSupport
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
    }

    /// `../shared/vectors` next to the package: data from the public specifications, never edited.
    public static var vectors: URL {
        packageRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors", isDirectory: true)
    }

    /// The bytes of one vector file, e.g. `vector("nip44.vectors.json")`.
    public static func vector(_ name: String) throws -> Data {
        try Data(contentsOf: vectors.appendingPathComponent(name))
    }

    /// A vector file parsed as JSON (Foundation's parser, independent of pylon's own).
    public static func vectorJSON(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: vector(name))
    }
}
