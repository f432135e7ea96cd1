import Foundation
import Testing

/// The shape issue 12 asked for, kept: no type name declared at top level in two targets (a reader
/// must never wonder which `DeploymentRecord` a file means), no source file over 350 lines, and
/// executables that only parse options and call a library.
@Suite struct SourceShapeTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources").path
    static let executables: Set<String> = ["boot-deploy", "boot-health", "bd-prepare-root"]

    /// Every Swift file, by target: (target, path relative to Sources, text).
    static func files() throws -> [(target: String, path: String, text: String)] {
        let fm = FileManager.default
        var out: [(String, String, String)] = []
        for target in try fm.contentsOfDirectory(atPath: sources).sorted() {
            guard let walk = fm.enumerator(atPath: sources + "/" + target) else { continue }
            for case let rel as String in walk where rel.hasSuffix(".swift") {
                let path = target + "/" + rel
                out.append((target, path, try String(contentsOfFile: sources + "/" + path, encoding: .utf8)))
            }
        }
        return out
    }

    /// The names a file declares at top level (column 0): structs, enums, classes, actors, protocols,
    /// typealiases. Extensions declare nothing new.
    static func topLevelTypes(_ text: String) -> [String] {
        let kinds: Set<String> = ["struct", "enum", "class", "actor", "protocol", "typealias"]
        let modifiers: Set<String> = ["public", "package", "internal", "fileprivate", "private", "final", "indirect", "open"]
        var names: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let first = line.first, first.isLetter || first == "@" else { continue }
            var words = line.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "<" || $0 == "{" || $0 == "=" })[...]
            while let w = words.first, w.hasPrefix("@") || modifiers.contains(String(w)) { words = words.dropFirst() }
            guard let kind = words.first, kinds.contains(String(kind)), words.count > 1 else { continue }
            names.append(String(words[words.startIndex + 1]))
        }
        return names
    }

    @Test func theScannerSeesDeclarations() {
        let text = "public struct A: Sendable {\n    struct Nested {}\n}\nindirect enum B<T> {}\n@usableFromInline final class C {}\nextension D {}\ntypealias E = Int\n"
        #expect(Self.topLevelTypes(text) == ["A", "B", "C", "E"])
    }

    @Test func noTypeNameInTwoTargets() throws {
        var targetsOf: [String: Set<String>] = [:]
        let files = try Self.files()
        #expect(files.count > 50, "found only \(files.count) Swift files under \(Self.sources)")
        for f in files {
            for name in Self.topLevelTypes(f.text) { targetsOf[name, default: []].insert(f.target) }
        }
        #expect(targetsOf.count > 100, "the scanner found only \(targetsOf.count) type names")
        let twice = targetsOf.filter { $0.value.count > 1 }.map { "\($0.key) in \($0.value.sorted().joined(separator: ", "))" }.sorted()
        #expect(twice.isEmpty, "type names declared in two targets: \(twice)")
    }

    @Test func noSourceFileOver350Lines() throws {
        let long = try Self.files().compactMap { f -> String? in
            let lines = f.text.split(separator: "\n", omittingEmptySubsequences: false).count - (f.text.hasSuffix("\n") ? 1 : 0)
            return lines > 350 ? "\(f.path) (\(lines) lines)" : nil
        }
        #expect(long.isEmpty, "source files over 350 lines: \(long)")
    }

    /// An executable's file is one command: options and a call into its library, nothing that decides.
    @Test func executablesAreThin() throws {
        let thick = try Self.files().filter { Self.executables.contains($0.target) }.compactMap { f -> String? in
            let lines = f.text.split(separator: "\n").count
            return lines > 120 ? "\(f.path) (\(lines) lines)" : nil
        }
        #expect(thick.isEmpty, "executable files over 120 lines (move the logic into a library target): \(thick)")
    }

    @Test func noFoundationInSources() throws {
        let users = try Self.files().filter { $0.text.split(separator: "\n").contains { $0 == "import Foundation" } }.map(\.path)
        #expect(users.isEmpty, "Sources import Foundation (use FoundationEssentials or nothing): \(users)")
    }
}
