/// The line grammar shared by the stateroot's small configuration files (`layout.conf`,
/// `cmdline.conf`): one directive a line, words separated by spaces or tabs, blank lines and `#`
/// comments skipped. Each file gives its directives their meaning; the numbering of lines (for
/// errors naming `file:line`) is this one's.
struct DirectiveLine {
    /// 1-based, as errors name it.
    var number: Int
    /// At least one word.
    var words: [String]

    static func parse(_ text: String) -> [DirectiveLine] {
        var out: [DirectiveLine] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            out.append(DirectiveLine(number: number, words: line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)))
        }
        return out
    }
}
