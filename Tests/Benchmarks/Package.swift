// swift-tools-version: 6.3
//
// Gantry's benchmarks, in their own package so the main build never compiles them:
//   swift package --package-path Tests/Benchmarks benchmark     the micro-benchmarks
//   scripts/bench                                              the end-to-end load generator
import PackageDescription

// SwiftPM names a path dependency after its directory, and a clone may live under any name.
let gantry = String(Context.packageDirectory.split(separator: "/").dropLast(2).last ?? "main").lowercased()

let package = Package(
    name: "gantry-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
    ],
    targets: [
        .executableTarget(
            name: "GantryBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "GantryKit", package: gantry),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/GantryBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "gantry-bench",
            dependencies: [
                .product(name: "GantryKit", package: gantry),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/gantry-bench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
