/// Characters that change how text is displayed rather than being displayed, and how to show them safely.
///
/// A newline in a name or reason forged whole server log lines, and escape
/// sequences reached admins' terminals through gatectl's tables. Names refuse
/// these characters (see `Names`); text that may still hold them (reasons and
/// string values stored before, descriptions, certificate names) is escaped
/// wherever it is printed: in server logs and in gatectl's tables.
public enum ControlCharacters {
    /// C0 controls and DEL, C1 controls (`Cc`), format characters such as the
    /// bidirectional overrides U+202A–U+202E and isolates U+2066–U+2069 and
    /// zero-width characters (`Cf`), and the line and paragraph separators
    /// U+2028 and U+2029 (`Zl`, `Zp`).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x20 || scalar.value == 0x7F { return true }
        if scalar.value < 0x80 { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator:
            return true
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark,
            .decimalNumber, .letterNumber, .otherNumber,
            .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation,
            .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol,
            .spaceSeparator, .surrogate, .privateUse, .unassigned:
            return false
        @unknown default:
            return false
        }
    }

    /// Whether `text` holds any control character; ASCII text is checked on its bytes.
    public static func occur(in text: String) -> Bool {
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            return text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
        }
        return text.unicodeScalars.contains(where: Self.isControl)
    }

    /// `text` with every control character written out: `\n`, `\r`, `\t`, else `\u{1B}`.
    ///
    /// The result prints on one line and moves no cursor. A backslash is left
    /// as it is (regexes stay readable), so `\n` typed literally looks like an
    /// escaped newline; what matters is that nothing can break a line or
    /// address the terminal. Returns `text` itself when there is nothing to escape.
    public static func escaped(_ text: String) -> String {
        guard Self.occur(in: text) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if Self.isControl(scalar) {
                    result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// Like ``escaped(_:)`` but keeps newlines: for multi-line messages (a refused catalog lists
    /// one problem per line) whose lines each come from checked text.
    public static func escapedKeepingNewlines(_ text: String) -> String {
        guard Self.occur(in: text) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { Self.escaped(String($0)) }.joined(separator: "\n")
    }
}
