import ArgumentParser
import BootDeployHealth
import FoundationEssentials
import Glibc

func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

func printError(_ s: String) { _ = SafeText.escape(s, .multiLine).withCString { write(2, $0, strlen($0)) } }

/// Reports an error the way a person at the console wants it: one line naming what failed, exit 2.
func failing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ExitCode { throw e } catch {
        printError("boot-health: \(error)\n")
        throw ExitCode(2)
    }
}

/// `2026-12-01 18:00:00 UTC`, for the person reading `status`.
func utc(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var tm = Glibc.tm()
    gmtime_r(&t, &tm)
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S UTC", &tm)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
