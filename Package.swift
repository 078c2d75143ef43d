// swift-tools-version: 6.2
//
// pylon: a Nostr compute-market node (NIP-90 provider, buyer, agent host) in one binary.
//
// The targets follow the layering in STYLE.md: a pure NostrCore at the bottom (no I/O), protocol
// and storage modules above it, the Daemon that composes them, a CLI on top, and a thin `pylon`
// executable. Each target imports only what is below it.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The release binary on Linux is linked by lld with the code laid out in the order of
/// scripts/order/pylon.order: what the daemon runs at start, at idle and on its first jobs, packed
/// together, so that the few MB it needs are all it maps (the kernel maps 64 KiB around each page
/// touched); scripts/order/pylon-text.ld puts the compiler's unnamed helpers next to it. RELR
/// packs the position-independent binary's relocations, which the loader reads at every start,
/// into a few KB. scripts/build-release.sh adds the function sections the order needs;
/// scripts/order/make-order-file.sh regenerates the file.
let releaseLayout: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-use-ld=lld",
            "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/order/pylon.order",
            "-Xlinker", "--no-warn-symbol-ordering",
            "-Xlinker", "--script=\(Context.packageDirectory)/scripts/order/pylon-text.ld",
            "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
            // --static-swift-stdlib exports every symbol of the binary (52,000 of them); nothing
            // looks them up at run time, and the loader read 3.4 MB of symbol tables at each start.
            "-Xlinker", "--no-export-dynamic",
            // One copy of each function whose machine code is identical to another's (generic
            // specialisations, thunks, C helpers): 3.4 MB less. `all`, not `safe`: Swift's
            // objects carry no table of address-taken functions, so `safe` folds almost nothing.
            // Folding changes only what a comparison of two functions' addresses answers, which Swift
            // code cannot make; the installed binary passes the CLI tests (scripts/test.sh runs them).
            "-Xlinker", "--icf=all",
        ],
        .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "pylon",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pylon", targets: ["pylon"]),
        .library(name: "NostrCore", targets: ["NostrCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // libsecp256k1 from the system (Debian `libsecp256k1-dev`: schnorrsig, extrakeys, ecdh).
        .systemLibrary(
            name: "CSecp256k1",
            path: "Sources/CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"]), .brew(["secp256k1"])]
        ),
        // What two or more modules share: the error pattern, JSON, RFC 3339 times, journal kinds and
        // line framing. Imports nothing but the standard library and Foundation's essentials.
        .target(name: "PylonBasics", swiftSettings: swiftSettings),
        .target(
            name: "NostrCore",
            dependencies: [
                "CSecp256k1",
                "PylonBasics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Control-socket messages, `StatusReport` and `ControlClient`: Foundation only.
        .target(name: "ControlProtocol", dependencies: ["PylonBasics"], swiftSettings: swiftSettings),
        // Waiting primitives shared by the modules below the daemon: a promise and a cancellable timer
        // on an event loop.
        .target(
            name: "PylonAsync",
            dependencies: [
                "PylonBasics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RelayPool",
            dependencies: [
                "NostrCore",
                "PylonBasics",
                "PylonAsync",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Local inference: Ollama, OpenAI-compatible servers (llama.cpp), Apple Foundation Models, and
        // the registry that detects and routes. Knows no Nostr.
        .target(
            name: "Backends",
            dependencies: [
                "PylonBasics",
                "PylonAsync",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // pylon.db: GRDB migrations, records and the journal. SQL lives here only.
        .target(
            name: "PylonStore",
            dependencies: ["NostrCore", "PylonBasics", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // Provider mode: the NIP-90 Data Vending Machine (admission, scheduler, feedback, results,
        // recovery, NIP-89). Knows no TOML and no control socket.
        .target(
            name: "Provider",
            dependencies: [
                "NostrCore",
                "PylonBasics",
                "Payments",
                "PylonAsync",
                "RelayPool",
                "Backends",
                "PylonStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Payments: the NIP-47 wallet client (invoices, payments, notifications) over relays.
        .target(
            name: "Payments",
            dependencies: [
                "NostrCore", "PylonBasics", "PylonAsync", "RelayPool",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The buyer: NIP-90 requests, their feedback and results, provider discovery.
        .target(
            name: "Buyer",
            dependencies: ["NostrCore", "PylonBasics", "Payments", "RelayPool", "PylonStore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Host mode: the agent supervisor (agents as subprocesses of the same binary) and an agent's ticks.
        .target(
            name: "Host",
            dependencies: [
                "NostrCore", "PylonBasics", "PylonAsync", "Payments", "RelayPool", "PylonStore", "Buyer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Daemon",
            dependencies: [
                "NostrCore",
                "PylonBasics",
                "Payments",
                "Host",
                "Buyer",
                "PylonAsync",
                "ControlProtocol",
                "RelayPool",
                "Backends",
                "PylonStore",
                "Provider",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CLI",
            dependencies: [
                "Daemon",
                "Payments",
                "PylonBasics",
                "Buyer",
                "ControlProtocol",
                "PylonStore",
                "RelayPool",
                "Backends",
                .product(name: "Logging", package: "swift-log"),
                "NostrCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pylon",
            dependencies: ["CLI", "EmptyICUData", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings,
            linkerSettings: releaseLayout
        ),
        // An empty ICU data package in place of Foundation's 34 MB one (see its source for why);
        // only a statically linked binary uses it.
        .target(name: "EmptyICUData"),
        .target(
            name: "PylonTestSupport",
            dependencies: [
                "NostrCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/PylonTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PylonBasicsTests",
            dependencies: ["PylonBasics", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NostrCoreTests",
            dependencies: [
                "NostrCore", "PylonTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
                // SHA-256 of vector files and long NIP-44 payloads.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PylonAsyncTests",
            dependencies: [
                "PylonAsync", "PylonTestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ControlProtocolTests",
            dependencies: ["ControlProtocol", "PylonBasics", "PylonTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "ControlProtocol", "PylonBasics", "PylonTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PylonStoreTests",
            // GRDB directly: tests reach under the API to check the schema's own guarantees.
            dependencies: ["PylonStore", "NostrCore", "PylonTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RelayPoolTests",
            dependencies: [
                "RelayPool", "NostrCore", "PylonTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BackendsTests",
            dependencies: [
                "Backends", "PylonAsync", "PylonBasics", "PylonTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaymentsTests",
            dependencies: [
                "Payments", "Buyer", "PylonStore", "NostrCore", "PylonBasics", "RelayPool", "PylonTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HostTests",
            dependencies: ["Host", "PylonStore", "PylonBasics", "PylonAsync", "PylonTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProviderTests",
            dependencies: ["Provider", "NostrCore", "Backends", "PylonTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["pylon", "NostrCore", "PylonTestSupport"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "relay-bench",
            dependencies: ["NostrCore", "RelayPool", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/RelayBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: ["PylonStore", "NostrCore", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Benchmarks/StoreBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "crypto-bench",
            dependencies: ["NostrCore", "CSecp256k1"],
            path: "Benchmarks/CryptoBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "backend-bench",
            dependencies: [
                "Backends", "PylonTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
            ],
            path: "Benchmarks/BackendBenchmark",
            swiftSettings: swiftSettings
        ),
    ]
)
