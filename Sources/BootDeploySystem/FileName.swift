import Glibc

/// A name (or relative path) below a `Directory`, as the kernel holds it: bytes. Linux names are
/// any bytes but NUL (and `/` within one component); Swift's `String` repairs bytes that are not
/// UTF-8, so a name read from a directory and turned into a `String` may no longer open. Every
/// walk that must reproduce a tree exactly (the /etc merge, the tree copy, removal) carries names
/// as `FileName`.
public struct FileName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The bytes, without a terminating NUL.
    public let bytes: [UInt8]

    public init(_ string: String) { bytes = Array(string.utf8) }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The name as a `String` when it is valid UTF-8 (then nothing is lost), else nil.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// The name as text: itself when it is UTF-8, else with each byte that is not part of valid
    /// UTF-8 written as `\xNN`. For reports and messages, never for opening.
    public var text: String {
        if let s = string { return s }
        var out = ""
        var i = 0
        while i < bytes.count {
            // The longest valid UTF-8 sequence starting here (1-4 bytes), else one escaped byte.
            var taken = false
            for len in stride(from: min(4, bytes.count - i), through: 1, by: -1) {
                if let s = String(validating: bytes[i..<(i + len)], as: UTF8.self), s.unicodeScalars.count == 1 {
                    out += s
                    i += len
                    taken = true
                    break
                }
            }
            if !taken {
                let h = String(bytes[i], radix: 16, uppercase: true)
                out += "\\x" + (h.count < 2 ? "0" + h : h)
                i += 1
            }
        }
        return out
    }

    public var description: String { text }

    public static func < (a: FileName, b: FileName) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// Calls `body` with the name as a NUL-terminated C string.
    public func withCString<R, E: Error>(_ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        let c = bytes.map { CChar(bitPattern: $0) } + [0]
        return try c.withUnsafeBufferPointer { (p: UnsafeBufferPointer<CChar>) throws(E) -> R in try body(p.baseAddress!) }
    }
}
