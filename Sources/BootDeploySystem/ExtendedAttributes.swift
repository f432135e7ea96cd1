import CBootDeployShim
import Glibc
import SystemPackage

/// One extended attribute: its full name with namespace (`user.note`,
/// `system.posix_acl_access`) and its raw value.
public struct ExtendedAttribute: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

extension Directory {
    /// The extended attributes of the regular file or directory `name`, sorted by name. The entry
    /// is opened with `O_NOFOLLOW | O_NONBLOCK`, so a symlink is refused and a fifo cannot block;
    /// a filesystem without extended attributes yields none.
    public func extendedAttributes(_ name: String) throws(SystemError) -> [ExtendedAttribute] {
        let f = try retryingOnInterrupt { openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) }.get("open", sub(name))
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
            let keyString = String(decoding: key.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            while true {
                let size = fgetxattr(f, keyString, nil, 0)
                if size < 0 {
                    if Glibc.errno == ENODATA { break }
                    throw SystemError("fgetxattr \(keyString)", sub(name), Errno(rawValue: Glibc.errno))
                }
                var value = [UInt8](repeating: 0, count: size)
                let n = value.withUnsafeMutableBytes { fgetxattr(f, keyString, $0.baseAddress, size) }
                if n >= 0 {
                    value.removeLast(size - n)
                    result.append(ExtendedAttribute(name: keyString, value: value))
                    break
                }
                if Glibc.errno == ENODATA { break }
                if Glibc.errno != ERANGE { throw SystemError("fgetxattr \(keyString)", sub(name), Errno(rawValue: Glibc.errno)) }
            }
        }
        return result.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Sets one extended attribute on the regular file or directory `name` (never a symlink).
    public func setExtendedAttribute(_ name: String, _ attribute: ExtendedAttribute) throws(SystemError) {
        if let e = FaultInjection.gate("setxattr", sub(name)) { throw SystemError("fsetxattr \(attribute.name)", sub(name), e) }
        let f = try retryingOnInterrupt { openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) }.get("open", sub(name))
        defer { close(f) }
        try retryingOnInterrupt {
            attribute.value.withUnsafeBytes { fsetxattr(f, attribute.name, $0.baseAddress, $0.count, 0) }
        }.get("fsetxattr \(attribute.name)", sub(name))
    }
}
