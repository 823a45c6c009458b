/// The raw bytes of a spec file turned into text, and text made safe to print.
enum SpecText {
    /// Decodes `bytes` as UTF-8 (a leading byte-order mark is dropped).
    ///
    /// - Throws: a ``SpecError`` of code `syntax` at the line and column of the first byte that is
    ///   not UTF-8, naming its offset and value.
    static func decode(_ bytes: [UInt8], file: String) throws(SpecError) -> String {
        var index = 0
        var line = 1
        var column = 1
        while index < bytes.count {
            let length = sequenceLength(bytes, at: index)
            guard length > 0 else {
                throw SpecError(
                    code: .syntax, file: file, line: line, column: column, keyPath: "",
                    message: "byte offset \(index) (0x\(String(bytes[index], radix: 16, uppercase: true))) "
                        + "is not UTF-8",
                    hint: "specs are UTF-8 text; re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
            }
            if bytes[index] == 0x0A {
                line += 1
                column = 1
            } else if bytes[index] != 0x0D || index + 1 >= bytes.count || bytes[index + 1] != 0x0A {
                column += 1
            }
            index += length
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text
    }

    /// The length of the well-formed UTF-8 sequence starting at `index`, or 0 when it is not one
    /// (overlong forms, surrogates and code points above U+10FFFF are refused, as the standard says).
    private static func sequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        if first < 0x80 { return 1 }
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            index + offset < bytes.count && range.contains(bytes[index + offset])
        }
        switch first {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : 0
        case 0xE0:
            return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return continuation(1) && continuation(2) ? 3 : 0
        case 0xED:
            return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
        case 0xF0:
            return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3:
            return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4:
            return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default:
            return 0
        }
    }

    /// `text` with control characters (ESC, NUL, DEL, C1 controls, and every C0 control except
    /// none) written as `\u{1B}`, so that a message never drives the terminal.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value < 0x20 || value == 0x7F || (0x80...0x9F).contains(value) {
                out += "\\u{" + String(value, radix: 16, uppercase: true).leftPadded(to: 2) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}
