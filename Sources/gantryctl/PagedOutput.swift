import GantryControl

/// Prints a listing as its pages arrive, in the chosen format, so a listing of any size
/// needs memory for one page only. JSON is one object with the items in an array (as when
/// printed at once); a table takes its column widths from the first page.
struct PagedOutput {
    let format: OutputFormat
    let key: String
    let headers: [String]
    private var widths: [Int]?
    private var items = 0

    init(format: OutputFormat, key: String, headers: [String]) {
        self.format = format
        self.key = key
        self.headers = headers
    }

    mutating func page(json: [JSONValue], rows: [[String]]) {
        switch format {
        case .json:
            guard !json.isEmpty else { return }
            var text = items == 0 ? "{\n  \"\(key)\": [" : ""
            for value in json {
                text += (items == 0 ? "\n    " : ",\n    ") + value.render(indent: 2).replacingOccurrences(of: "\n", with: "\n    ")
                items += 1
            }
            emit(text)
        case .csv:
            guard !rows.isEmpty else { return }
            let table = Table(headers: headers, rows: rows).renderCSV()
            emit(items == 0 ? table : String(table.drop { $0 != "\n" }.dropFirst()))
            items += rows.count
        case .table:
            if widths == nil {
                var w = headers.map(\.count)
                for row in rows { for (i, cell) in row.enumerated() where i < w.count { w[i] = max(w[i], cell.count) } }
                widths = w
                emit(line(headers))
            }
            for row in rows { emit(line(row)) }
            items += rows.count
        }
    }

    mutating func finish() {
        switch format {
        case .json: emit(items == 0 ? "{\n  \"\(key)\": []\n}\n" : "\n  ]\n}\n")
        case .csv: if items == 0 { emit(Table(headers: headers).renderCSV()) }
        case .table: if widths == nil { emit(line(headers)) }
        }
    }

    private func line(_ cells: [String]) -> String {
        var s = ""
        for (i, cell) in cells.enumerated() {
            let width = i < (widths?.count ?? 0) ? widths![i] : cell.count
            s += i == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, width - cell.count) + 2)
        }
        return s + "\n"
    }

    private func emit(_ text: String) {
        print(text, terminator: "")
        fflushStdout()
    }
}
