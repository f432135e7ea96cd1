/// GRUB's environment block (`grubenv`), read and written the way `grub-editenv` does it.
///
/// The file is exactly `size` bytes (1024 unless found otherwise): the header line, then one
/// `key=value` line per variable, then `#` padding. A backslash in a value escapes the next
/// character (`\\` and a newline are written escaped). Variable order is kept: `set` replaces a
/// value in place and appends new keys after the last one, as grub-editenv does, so that a file we
/// write is byte-identical to the one grub-editenv would write for the same edits.
public struct GrubEnvironment: Sendable, Equatable {
    public static let header = "# GRUB Environment Block\n"
    public var variables: [(key: String, value: String)]
    public var size: Int

    public static func == (a: GrubEnvironment, b: GrubEnvironment) -> Bool {
        a.size == b.size && a.variables.map { $0.key } == b.variables.map { $0.key } && a.variables.map { $0.value } == b.variables.map { $0.value }
    }

    public init(size: Int = 1024) {
        self.variables = []
        self.size = size
    }

    /// Why a grubenv file was refused.
    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    public init(parsing bytes: [UInt8], file: String = "grubenv") throws(FormatError) {
        let head = Array(Self.header.utf8)
        guard bytes.count >= head.count, Array(bytes[0..<head.count]) == head else {
            throw FormatError(message: "\(file): not a GRUB environment block (missing header)")
        }
        size = bytes.count
        variables = []
        var i = head.count
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "#") {
                // A comment or the padding: skip to the end of the line.
                while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
                i += 1
                continue
            }
            var key: [UInt8] = []
            while i < bytes.count && bytes[i] != UInt8(ascii: "=") && bytes[i] != UInt8(ascii: "\n") { key.append(bytes[i]); i += 1 }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else {
                // A line without '=' is ignored by grub; so do we.
                i += 1
                continue
            }
            i += 1
            var value: [UInt8] = []
            while i < bytes.count && bytes[i] != UInt8(ascii: "\n") {
                if bytes[i] == UInt8(ascii: "\\") && i + 1 < bytes.count { i += 1 }
                value.append(bytes[i])
                i += 1
            }
            i += 1
            variables.append((String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
    }

    public subscript(key: String) -> String? { variables.first { $0.key == key }?.value }

    public mutating func set(_ key: String, _ value: String) {
        if let i = variables.firstIndex(where: { $0.key == key }) { variables[i].value = value } else { variables.append((key, value)) }
    }

    public mutating func unset(_ key: String) { variables.removeAll { $0.key == key } }

    /// The file's bytes, padded to `size`. Fails when the variables do not fit.
    public func render() throws(FormatError) -> [UInt8] {
        var out = Array(Self.header.utf8)
        for (k, v) in variables {
            out += Array(k.utf8)
            out.append(UInt8(ascii: "="))
            for b in v.utf8 {
                if b == UInt8(ascii: "\\") || b == UInt8(ascii: "\n") { out.append(UInt8(ascii: "\\")) }
                out.append(b)
            }
            out.append(UInt8(ascii: "\n"))
        }
        guard out.count <= size else { throw FormatError(message: "grubenv: variables need \(out.count) bytes, the block holds \(size)") }
        out += [UInt8](repeating: UInt8(ascii: "#"), count: size - out.count)
        return out
    }
}
