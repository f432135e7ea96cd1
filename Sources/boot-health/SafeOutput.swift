import BootDeployHealth

/// Everything this executable prints goes through SafeText (docs/HEALTH.md, "Output"): this `print`
/// has the standard library's signature, so inside this module it is the one every unqualified
/// `print` call resolves to, the commands added later included. Text keeps its newlines and tabs;
/// every other control character is shown as `\uXXXX` (which keeps JSON output valid JSON).
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator)
    Swift.print(SafeText.escape(text, .multiLine), terminator: terminator)
}
