import BootDeploySystem

/// Writes the Prometheus text into node_exporter's textfile collector directory.
///
/// The collector reads every `*.prom` file at each scrape; a half-written file would be a scrape
/// error or, worse, a series with a wrong value. So the text goes to a temporary name the
/// collector ignores (`.bootdeploy.prom.tmp`), is flushed, and is renamed over `bootdeploy.prom`
/// in the same directory: a scrape sees the old file or the new one.
public enum TextfileCollector {
    public static let defaultDirectory = "/var/lib/prometheus/node-exporter"

    public static func write(_ text: String, directory: String) throws {
        let dir: Directory
        do { dir = try Directory.open(directory) } catch {
            throw HealthError.invalid("textfile collector directory \(directory): \(error)")
        }
        do { try dir.replaceFile(PrometheusText.fileName, Array(text.utf8), mode: 0o644) } catch {
            throw HealthError.invalid("writing \(directory)/\(PrometheusText.fileName): \(error)")
        }
    }
}
