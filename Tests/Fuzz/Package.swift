// swift-tools-version: 6.2
//
// The libFuzzer target, kept in its own package so the main build never sees it. Build and
// run it with scripts/fuzz (it passes -sanitize=fuzzer,address).
import PackageDescription

// SwiftPM names a path dependency after its directory, and a clone may live under any name.
let gantry = String(Context.packageDirectory.split(separator: "/").dropLast(2).last ?? "main").lowercased()

let package = Package(
    name: "gantry-fuzz",
    dependencies: [
        .package(path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "GantryFuzz",
            dependencies: [
                .product(name: "GantryWire", package: gantry),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
