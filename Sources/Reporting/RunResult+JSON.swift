import Foundation
import Results

extension RunResult {
    /// The run as `run.json` bytes: pretty-printed with sorted keys (stable diffs), histograms
    /// in their compact bucket form.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// Decodes `run.json` bytes; `path` only names the source in errors.
    public static func decode(_ data: Data, path: String = "run.json") throws -> RunResult {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        struct Header: Decodable { var formatVersion: Int }
        do {
            let header = try decoder.decode(Header.self, from: data)
            guard header.formatVersion <= currentFormatVersion else {
                throw ReportError.unsupportedFormatVersion(
                    path: path, found: header.formatVersion, supported: currentFormatVersion)
            }
            return try decoder.decode(RunResult.self, from: data)
        } catch let error as DecodingError {
            let (codingPath, reason) = describe(error)
            throw ReportError.invalidRunJSON(path: path, codingPath: codingPath, reason: reason)
        }
    }

    /// Reads a run from a run directory (its `run.json`) or from a JSON file.
    public static func load(from url: URL) throws -> RunResult {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let file =
            exists && isDirectory.boolValue ? url.appendingPathComponent(ReportWriter.jsonFileName) : url
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw ReportError.cannotRead(path: file.path, reason: Self.reason(error))
        }
        return try decode(data, path: file.path)
    }

    /// Reads a run from a path: a run directory or a JSON file.
    public static func load(fromPath path: String) throws -> RunResult {
        try load(from: URL(fileURLWithPath: path))
    }

    static func reason(_ error: any Error) -> String {
        if let error = error as? CocoaError,
            let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError
        {
            return underlying.localizedDescription
        }
        return error.localizedDescription
    }

    private static func describe(_ error: DecodingError) -> (String, String) {
        func render(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return (render(context.codingPath), "expected \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return (render(context.codingPath), "missing \(type) value: \(context.debugDescription)")
        case .keyNotFound(let key, let context):
            return (render(context.codingPath + [key]), "missing key '\(key.stringValue)'")
        case .dataCorrupted(let context):
            return (render(context.codingPath), context.debugDescription)
        @unknown default:
            return ("", String(describing: error))
        }
    }
}
