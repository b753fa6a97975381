import Testing

import GantryControl

@Suite("gantryctl number formatting")
struct ReportFormatTests {
    @Test("fixed decimals, never exponent form", arguments: [
        (0.000052, 6, "0.000052"), (0.0000004, 6, "0.000000"), (-0.0000004, 6, "0.000000"), (1234.5, 1, "1234.5"),
        (2, 3, "2.000"), (-1.25, 1, "-1.3"), (99.6, 0, "100"), (1e-9, 2, "0.00"),
    ])
    func fixedDecimals(value: Double, places: Int, text: String) {
        #expect(fixed(value, places) == text)
    }
}
