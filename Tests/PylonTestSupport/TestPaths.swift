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
    /// A clone made elsewhere (CI clones into a temporary folder) finds them next to the local
    /// repository it was cloned from; `PYLON_VECTORS` names the folder outright.
    public static var vectors: URL {
        let besideRoot = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors", isDirectory: true)
        var candidates: [URL] = []
        if let folder = ProcessInfo.processInfo.environment["PYLON_VECTORS"], !folder.isEmpty {
            candidates.append(URL(fileURLWithPath: folder, isDirectory: true))
        }
        candidates.append(besideRoot)
        if let origin = localOrigin {
            candidates.append(origin.deletingLastPathComponent().appendingPathComponent("shared/vectors", isDirectory: true))
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? besideRoot
    }

    /// The `origin` remote of the package's git clone when it is a folder on this machine.
    private static var localOrigin: URL? {
        let config = packageRoot.appendingPathComponent(".git/config")
        guard let text = try? String(contentsOf: config, encoding: .utf8) else { return nil }
        var inOrigin = false
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("[") {
                inOrigin = line == "[remote \"origin\"]"
            } else if inOrigin, line.hasPrefix("url") {
                let value = line.drop { $0 != "=" }.dropFirst().trimmingCharacters(in: .whitespaces)
                let path = value.hasPrefix("file://") ? String(value.dropFirst("file://".count)) : value
                return path.hasPrefix("/") ? URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL : nil
            }
        }
        return nil
    }

    /// The bytes of one vector file, e.g. `vector("nip44.vectors.json")`.
    public static func vector(_ name: String) throws -> Data {
        try Data(contentsOf: vectors.appendingPathComponent(name))
    }

    /// A vector file parsed as JSON (Foundation's parser, independent of pylon's own).
    public static func vectorJSON(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: vector(name))
    }

    /// A vector file kept in this repository (`Tests/Vectors/`), parsed as JSON: vectors taken from
    /// a specification that `../shared/vectors` does not hold; each file says where it comes from.
    public static func repositoryVectorJSON(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appending(path: "Tests/Vectors/\(name)")))
    }
}
