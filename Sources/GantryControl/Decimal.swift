/// `v` with exactly `places` decimals and never in exponent form (`String(0.000052)` is
/// "5.2e-05").
public func fixed(_ v: Double, _ places: Int) -> String {
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    let n = (abs(v) * Double(scale)).rounded()
    guard v.isFinite, n < 9e15 else { return String(v) }
    let units = Int64(n)
    let sign = v < 0 && units != 0 ? "-" : ""
    guard places > 0 else { return sign + String(units) }
    let fraction = String(units % scale)
    return sign + String(units / scale) + "." + String(repeating: "0", count: places - fraction.count) + fraction
}
