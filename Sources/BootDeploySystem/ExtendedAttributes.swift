import CBootDeployShim
import Glibc
import SystemPackage

/// One extended attribute: its full name with namespace (`user.note`,
/// `system.posix_acl_access`) and its raw value.
public struct ExtendedAttribute: Sendable, Equatable {
    /// The name's bytes (attribute names, like file names, need not be UTF-8).
    public var rawName: [UInt8]
    public var value: [UInt8]

    /// The name as text (for filtering by namespace and for messages).
    public var name: String { FileName(bytes: rawName).text }

    public init(name: String, value: [UInt8]) {
        self.rawName = Array(name.utf8)
        self.value = value
    }

    public init(rawName: [UInt8], value: [UInt8]) {
        self.rawName = rawName
        self.value = value
    }
}

extension Directory {
    /// The extended attributes of the regular file or directory `name`, sorted by name. The entry
    /// is opened with `O_NOFOLLOW | O_NONBLOCK`, so a symlink is refused and a fifo cannot block;
    /// a filesystem without extended attributes yields none.
    public func extendedAttributes(_ name: String) throws(SystemError) -> [ExtendedAttribute] {
        try extendedAttributes(FileName(name))
    }

    /// `extendedAttributes` of a name given as bytes; attribute names are kept as bytes too.
    public func extendedAttributes(_ name: FileName) throws(SystemError) -> [ExtendedAttribute] {
        let f = try openForReading(name, flags: O_NONBLOCK)
        defer { close(f) }
        // Sizes are asked first and the call repeated on ERANGE: another process may add an
        // attribute between the two calls.
        var names: [CChar] = []
        while true {
            let size = flistxattr(f, nil, 0)
            if size < 0 {
                let e = Errno(rawValue: Glibc.errno)
                if e == .notSupported { return [] }
                throw SystemError("flistxattr", sub(name), e)
            }
            if size == 0 { return [] }
            names = [CChar](repeating: 0, count: size)
            let n = flistxattr(f, &names, size)
            if n >= 0 { names.removeLast(size - n); break }
            if Glibc.errno != ERANGE { throw SystemError("flistxattr", sub(name), Errno(rawValue: Glibc.errno)) }
        }
        var result: [ExtendedAttribute] = []
        for key in names.split(separator: 0) {
            let keyName = FileName(bytes: key.map { UInt8(bitPattern: $0) })
            let keyString = keyName.text
            while true {
                let size = keyName.withCString { k in fgetxattr(f, k, nil, 0) }
                if size < 0 {
                    if Glibc.errno == ENODATA { break }
                    throw SystemError("fgetxattr \(keyString)", sub(name), Errno(rawValue: Glibc.errno))
                }
                var value = [UInt8](repeating: 0, count: size)
                let n = keyName.withCString { k in value.withUnsafeMutableBytes { fgetxattr(f, k, $0.baseAddress, size) } }
                if n >= 0 {
                    value.removeLast(size - n)
                    result.append(ExtendedAttribute(rawName: keyName.bytes, value: value))
                    break
                }
                if Glibc.errno == ENODATA { break }
                if Glibc.errno != ERANGE { throw SystemError("fgetxattr \(keyString)", sub(name), Errno(rawValue: Glibc.errno)) }
            }
        }
        return result.sorted { $0.rawName.lexicographicallyPrecedes($1.rawName) }
    }

    /// Sets one extended attribute on the regular file or directory `name` (never a symlink).
    public func setExtendedAttribute(_ name: String, _ attribute: ExtendedAttribute) throws(SystemError) {
        try setExtendedAttribute(FileName(name), attribute)
    }

    public func setExtendedAttribute(_ name: FileName, _ attribute: ExtendedAttribute) throws(SystemError) {
        if let e = FaultInjection.gate("setxattr", sub(name)) { throw SystemError("fsetxattr \(attribute.name)", sub(name), e) }
        let f = try openForReading(name, flags: O_NONBLOCK)
        defer { close(f) }
        try FileName(bytes: attribute.rawName).withCString { k in
            retryingOnInterrupt { attribute.value.withUnsafeBytes { fsetxattr(f, k, $0.baseAddress, $0.count, 0) } }
        }.get("fsetxattr \(attribute.name)", sub(name))
    }
}
