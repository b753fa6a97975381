// swift-tools-version: 6.2
//
// Gantry: an inference-cluster scheduler.
//
// Layers (dependencies point inward only):
//   executables  gantryd  gantry-agent  gantryctl  (+ GantryCLI, their shared command-line plumbing)
//   shells       GantryCoordinator  GantryAgent  GantryControl  GantryDashboard
//                (+ GantryRuntime, what the shells share)
//   adapters     GantryWire  GantryNet  GantryStore  GantryConfig  GantryHost  GantrySystemd  GantryLogging
//                GantryOpenAI  GantryTelemetry  GantrySQL  GantryPostgres
//   core (pure)  GantryModel  GantryPlacement  GantryAccounting  GantryPersistence
//                GantryCoordinatorCore  GantryAgentCore
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let testSwiftSettings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let deque: Target.Dependency = .product(name: "DequeModule", package: "swift-collections")
let heap: Target.Dependency = .product(name: "HeapModule", package: "swift-collections")

let package = Package(
    name: "gantry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gantryd", targets: ["gantryd"]),
        .executable(name: "gantry-agent", targets: ["gantry-agent"]),
        .executable(name: "gantryctl", targets: ["gantryctl"]),
        // For the fuzzer (Tests/Fuzz) and benchmark (Tests/Benchmarks) packages.
        .library(name: "GantryWire", targets: ["GantryWire", "GantryModel"]),
        .library(
            name: "GantryKit",
            targets: [
                "GantryModel", "GantryCoordinatorCore", "GantryPlacement", "GantryAccounting", "GantryWire", "GantryNet",
                "GantryControl", "GantryConfig", "GantryStore", "GantryPersistence", "GantryRuntime",
            ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", exact: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", exact: "1.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        // The HTTP listeners (the OpenAI-compatible API, /healthz, /metrics). No default traits:
        // Gantry needs neither swift-configuration nor full Foundation from it.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        // The PostgreSQL store (high availability).
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
    ],
    targets: [
        // MARK: core (pure: no I/O, no clock, no NIO/protobuf/SQLite)
        .target(name: "GantryModel", swiftSettings: swiftSettings),
        .target(
            name: "GantryPlacement",
            dependencies: ["GantryModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryAccounting",
            dependencies: ["GantryModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryPersistence",
            dependencies: ["GantryModel", "GantryAccounting"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryCoordinatorCore",
            dependencies: ["GantryModel", "GantryPlacement", "GantryAccounting", "GantryPersistence", deque, heap],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryAgentCore",
            dependencies: ["GantryModel"],
            swiftSettings: swiftSettings
        ),

        // MARK: adapters
        .target(
            name: "GantryConfig",
            dependencies: ["GantryModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryWire",
            dependencies: [
                "GantryModel",
                nio,
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Generated/README.md"],
            swiftSettings: swiftSettings
        ),
        // The store's SQL, one mapping of Gantry's values for both backends (no driver).
        .target(
            name: "GantrySQL",
            dependencies: ["GantryModel", "GantryPersistence", "GantryAccounting"],
            swiftSettings: swiftSettings
        ),
        // The store on PostgreSQL, and the leader lease.
        .target(
            name: "GantryPostgres",
            dependencies: [
                "GantryModel", "GantryPersistence", "GantryAccounting", "GantrySQL", logging, nio,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryStore",
            dependencies: [
                "GantryModel", "GantryPersistence", "GantryAccounting", "GantrySQL", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryHost",
            dependencies: [
                "GantryModel", logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryNet",
            dependencies: [
                "GantryModel", "GantryWire", nio, nioPosix,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "GantrySystemd",
            dependencies: ["CSystemd", "GantryRuntime", logging],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryLogging",
            dependencies: [logging, "GantrySystemd"],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "GantryOpenAI",
            dependencies: ["GantryModel"],
            swiftSettings: swiftSettings
        ),
        // Reads engines' own /metrics (llama-server, vLLM, SGLang) and llama-server's /slots.
        .target(
            name: "GantryTelemetry",
            dependencies: ["GantryModel"],
            swiftSettings: swiftSettings
        ),

        // MARK: shells
        .target(
            name: "GantryRuntime",
            dependencies: [
                "GantryModel", deque, logging, .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryCoordinator",
            dependencies: [
                "GantryModel", "GantryCoordinatorCore", "GantryPersistence", "GantryWire", "GantryConfig", "GantryNet",
                "GantryStore", "GantryAccounting", "GantryRuntime", nio, nioPosix, logging, deque,
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                "GantryOpenAI",
            ],
            swiftSettings: swiftSettings
        ),
        // The dashboard (/ui/) and its JSON API (/api/v1/) on the HTTP listener; its pages are
        // compiled into the binary.
        .target(
            name: "GantryDashboard",
            dependencies: [
                "GantryCoordinator", "GantryControl", "GantryModel", "GantryPersistence", "GantryRuntime", "GantryWire", "GantryNet", logging, nio,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.embedInCode("ui/login.html"), .embedInCode("ui/app.html"), .embedInCode("ui/app.js"), .embedInCode("ui/style.css")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryAgent",
            dependencies: [
                "GantryModel", "GantryAgentCore", "GantryWire", "GantryConfig", "GantryHost", "GantryNet", "GantryAccounting",
                "GantryRuntime", "GantryTelemetry", nio, nioPosix, logging,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GantryControl",
            dependencies: ["GantryModel", "GantryWire", "GantryNet", "GantryConfig", nio, nioPosix],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "GantryCLI",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),

        // MARK: executables
        .executableTarget(
            name: "gantryd",
            dependencies: [
                "GantryCoordinator", "GantryConfig", "GantryLogging", "GantryCLI", "GantryModel", "GantryWire", "GantryStore", "GantrySystemd",
                "GantryRuntime", "GantryPostgres", "GantryPersistence", "GantryDashboard", logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "gantry-agent",
            dependencies: [
                "GantryAgent", "GantryConfig", "GantryLogging", "GantryCLI", "GantryModel", "GantryWire", "GantryHost", "GantrySystemd", "GantryNet",
                "GantryRuntime", logging,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "gantryctl",
            dependencies: [
                "GantryControl", "GantryModel", "GantryCLI", "GantryWire", "GantryConfig", "GantryNet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: tests
        .target(name: "GantryTestSupport", path: "Tests/GantryTestSupport", swiftSettings: testSwiftSettings),
        .testTarget(
            name: "GantryCoordinatorCoreTests",
            dependencies: ["GantryModel", "GantryPlacement", "GantryCoordinatorCore", "GantryPersistence", "GantryAccounting"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryAgentCoreTests",
            dependencies: ["GantryModel", "GantryAgentCore"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryPlacementTests",
            dependencies: ["GantryModel", "GantryPlacement"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryAccountingTests",
            dependencies: ["GantryModel", "GantryAccounting"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryNetTests",
            dependencies: [
                "GantryModel", "GantryWire", "GantryNet", nio,
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryOpenAITests",
            dependencies: ["GantryModel", "GantryOpenAI"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryTelemetryTests",
            dependencies: ["GantryModel", "GantryTelemetry"],
            exclude: ["Fixtures"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryControlTests",
            dependencies: ["GantryControl"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryWireTests",
            dependencies: [
                "GantryModel", "GantryWire", nio,
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Golden"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryConfigTests",
            dependencies: ["GantryModel", "GantryConfig"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryHostTests",
            dependencies: ["GantryModel", "GantryHost"],
            resources: [.copy("Fixtures")],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryStoreTests",
            dependencies: [
                "GantryModel", "GantryPersistence", "GantryStore", "GantryRuntime", "GantryTestSupport", "GantryPostgres", "GantryAccounting",
                logging, .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryDashboardTests",
            dependencies: [
                "GantryDashboard", "GantryCoordinator", "GantryModel", "GantryPersistence", "GantryConfig", "GantryStore", "GantryRuntime", logging,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantrySystemdTests",
            dependencies: ["GantrySystemd", logging],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryAgentTests",
            dependencies: ["GantryModel", "GantryAgent", "GantryConfig", "GantryTelemetry"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "GantryIntegrationTests",
            dependencies: [
                "gantryd", "gantry-agent", "gantryctl",
                "GantryModel", "GantryWire", "GantryConfig", "GantryCoordinator", "GantryRuntime",
                "GantryAgent", "GantryControl", "GantryHost", "GantryNet", nio, nioPosix, logging,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "GantryStore", "GantryTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: testSwiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
