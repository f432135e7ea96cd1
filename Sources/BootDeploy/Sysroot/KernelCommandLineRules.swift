/// The kernel's own rules for its command line, on bytes: how it splits parameters (Linux
/// `lib/cmdline.c` `next_arg()`, with `isspace()` from `lib/ctype.c`) and how long the line may be
/// (`COMMAND_LINE_SIZE`, terminating NUL included; the kernel silently cuts what is longer).
///
/// Every kernel argument BootDeploy writes passes `problem(with:)`, so that no argument can change
/// how the ones after it are read: an unbalanced `"` would make the kernel swallow every later
/// argument, `bootdeploy=` included, into one parameter, and that entry could never boot.
///
/// The project has three command-line splitters today: `KernelArguments(parsing:)` (entries and
/// `kargs`), `BootDeployEarlyBoot.KernelCommandLine` (prepare-root) and the `bootdeploy=` scan in
/// `BootDeployHealth.BootEntries`. They agree on ordinary lines; this type is the one that follows
/// the kernel byte for byte, and the one the others should become (a later reshaping).
public enum KernelCommandLineRules {
    /// `COMMAND_LINE_SIZE` of x86 and arm64 (the NUL included): the default limit.
    public static let defaultLimit = 2048
    /// The smallest and largest limits accepted from `--cmdline-limit` or `cmdline.conf`.
    public static let limitRange = 256...65536

    static let quote = UInt8(ascii: "\"")

    /// The kernel's `isspace()`: tab, newline, vertical tab, form feed, carriage return, space, and
    /// 0xA0 (Latin-1's no-break space; in UTF-8 it is the second byte of characters such as `Ġ`).
    public static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0d).contains(b) || b == 0xa0 }

    /// Splits a command line into parameters exactly as `next_arg()` walks it: leading whitespace
    /// skipped; a parameter ends at whitespace outside double quotes; every `"` toggles quoting.
    /// The parameters are returned as written (quotes kept).
    public static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count && isSpace(bytes[i]) { i += 1 }
        while i < bytes.count {
            let start = i
            var inQuote = false
            // A leading quote opens quoting and is skipped before the walk, as in next_arg().
            if bytes[i] == quote { inQuote = true; i += 1 }
            while i < bytes.count {
                if isSpace(bytes[i]) && !inQuote { break }
                if bytes[i] == quote { inQuote.toggle() }
                i += 1
            }
            out.append(Array(bytes[start..<i]))
            while i < bytes.count && isSpace(bytes[i]) { i += 1 }
        }
        return out
    }

    /// Splits a command line (such as /proc/cmdline) into parameters by the kernel's rules.
    public static func split(_ line: String) -> [String] {
        split(Array(line.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Why `argument` cannot be written as one kernel argument, or nil when it can.
    public static func problem(with argument: String) -> String? {
        let b = Array(argument.utf8)
        if b.allSatisfy({ isSpace($0) || $0 == quote }) { return "empty or only whitespace" }
        if let c = b.first(where: { $0 < 0x20 || $0 == 0x7f }) {
            return "contains the control character 0x\(hex(c)); the kernel command line is one line of text"
        }
        if b.filter({ $0 == quote }).count % 2 != 0 {
            return "has an unbalanced double quote: the kernel would read every argument after it, bootdeploy= included, as part of this one"
        }
        if isSpace(b[0]) || isSpace(b[b.count - 1]) { return "starts or ends with whitespace" }
        let parts = split(b)
        if parts.count != 1 {
            let a0 = nbspOutsideQuotes(b)
            return "the kernel would split it into \(parts.count) arguments at whitespace outside double quotes"
                + (a0 ? " (byte 0xA0, part of some UTF-8 characters, is whitespace to the kernel)" : "")
                + "; quote the value as key=\"a b\""
        }
        // Inside quotes the kernel keeps it in this argument's value, but the simpler scanners
        // (boot-health's bootdeploy= scan) split on any space and would take it for ours.
        if b.split(whereSeparator: isSpace).dropFirst().contains(where: { $0.starts(with: Array("bootdeploy=".utf8)) }) {
            return "holds bootdeploy= inside quotes, which is kept out of every argument but BootDeploy's own"
        }
        if argument == "--" { return "'--' ends the kernel's parameters: every argument after it, bootdeploy= included, would go to init" }
        return nil
    }

    static func nbspOutsideQuotes(_ b: [UInt8]) -> Bool {
        var inQuote = false
        for c in b {
            if c == quote { inQuote.toggle() }
            if c == 0xa0 && !inQuote { return true }
        }
        return false
    }

    static func hex(_ b: UInt8) -> String {
        let h = String(b, radix: 16, uppercase: true)
        return h.count < 2 ? "0" + h : h
    }

    /// An argument as it appears in a message: quoted, control characters escaped, and cut after
    /// 80 bytes so that a 100 KB argument does not flood the console.
    public static func shown(_ argument: String) -> String {
        let cut = argument.utf8.count > 80
        return quoted(abbreviated(argument)) + (cut ? " (\(argument.utf8.count) bytes)" : "")
    }

    /// The first 80 bytes of `argument`, with `...` when there was more.
    public static func abbreviated(_ argument: String) -> String {
        argument.utf8.count > 80 ? String(decoding: argument.utf8.prefix(80), as: UTF8.self) + "..." : argument
    }

    /// The bytes the kernel receives for `options` when the boot loader adds `extra` parameters
    /// (systemd-boot puts `initrd=PATH` before the options for each initrd line), separators
    /// included, NUL excluded.
    public static func length(options: [String], extra: [String]) -> Int {
        let all = extra + options
        return all.reduce(0) { $0 + $1.utf8.count } + max(0, all.count - 1)
    }

    /// Refuses a line that the kernel would cut: `limit` is COMMAND_LINE_SIZE, so at most
    /// `limit - 1` bytes fit. The error names the argument that crosses the limit.
    public static func checkLength(options: [String], extra: [String], limit: Int, what: String) throws(BootDeployError) {
        let total = length(options: options, extra: extra)
        guard total > limit - 1 else { return }
        var used = extra.reduce(0) { $0 + $1.utf8.count + 1 }
        var culprit = options.last ?? ""
        for o in options {
            used += o.utf8.count + 1
            if used - 1 > limit - 1 { culprit = o; break }
        }
        throw .refused("the kernel command line of \(what) would be \(total) bytes, but the kernel keeps at most \(limit - 1) "
            + "(COMMAND_LINE_SIZE \(limit)) and cuts the rest; it crosses the limit at kernel argument \(shown(culprit)). "
            + "Drop or shorten arguments, or raise the limit with --cmdline-limit or 'limit' in cmdline.conf if this kernel allows more")
    }
}
