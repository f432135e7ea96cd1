import Glibc
import SystemPackage

/// A failed system call, with the operation and the path it was applied to, so that a message such
/// as `renameat2(entries.staged, entries): Invalid argument` tells the reader where to look.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var path: String
    public var errno: Errno

    public init(_ operation: String, _ path: String, _ errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "\(operation)(\(path)): \(errno.description)"
    }
}

/// Calls a C function that returns -1 and sets errno on failure, retrying on EINTR.
@inline(__always)
func retryingOnInterrupt<T: FixedWidthInteger>(_ body: () -> T) -> Result<T, Errno> {
    while true {
        let r = body()
        if r == -1 {
            let e = Errno(rawValue: Glibc.errno)
            if e == .interrupted { continue }
            return .failure(e)
        }
        return .success(r)
    }
}

extension Result where Failure == Errno {
    /// Turns the internal `Result` into the public throwing form, naming operation and path.
    @inline(__always)
    @discardableResult
    func get(_ operation: String, _ path: String) throws(SystemError) -> Success {
        switch self {
        case .success(let v): return v
        case .failure(let e): throw SystemError(operation, path, e)
        }
    }
}
