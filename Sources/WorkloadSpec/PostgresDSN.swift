/// A PostgreSQL server a spec names for a region (`dsn: postgres://user@host:port/database`): how
/// a user points LayerBench at servers it did not start, on this machine or elsewhere.
///
/// Accepted: `postgres://` or `postgresql://`, an optional `user[:password]@`, a host (a name, an
/// IPv4 address or a bracketed IPv6 address), an optional port (default 5432) and a database
/// (default `layerbench`). Query parameters are refused rather than silently ignored.
public struct PostgresDSN: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The server's host name or address (IPv6 without brackets).
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The user to connect as.
    public var user: String
    /// The password, when the DSN gives one.
    public var password: String?
    /// The database.
    public var database: String

    /// The default database when the DSN names none.
    public static let defaultDatabase = "layerbench"

    /// A DSN given by its parts.
    public init(
        host: String, port: Int = 5432, user: String = "postgres", password: String? = nil,
        database: String = PostgresDSN.defaultDatabase
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Why a DSN cannot be used.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong with it.
        public var reason: String
        /// The error.
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// Parses `text`.
    ///
    /// - Throws: ``Invalid`` with the reason (a scheme other than postgres, no host, a port that is
    ///   not a number in 1...65535, query parameters, percent escapes that do not decode).
    public init(parsing text: String) throws(Invalid) {
        var rest = Substring(text)
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { rest.hasPrefix($0) }) else {
            throw Invalid("it must start with postgres:// or postgresql://")
        }
        rest = rest.dropFirst(scheme.count)
        if rest.contains("?") || rest.contains("#") {
            throw Invalid("query parameters (?...) are not supported; give user, host, port and database only")
        }
        var authority = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }
        var user = "postgres"
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = try Self.decode(credentials[..<colon], "the user")
                password = try Self.decode(credentials[credentials.index(after: colon)...], "the password")
            } else {
                user = try Self.decode(credentials, "the user")
            }
            guard !user.isEmpty else { throw Invalid("the user before '@' is empty") }
        }
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Invalid("an IPv6 host lacks its ']'") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid("unexpected '\(after)' after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else { throw Invalid("it names no host (postgres://user@HOST:port/database)") }
        var port = 5432
        if let portText {
            guard let number = Int(portText), (1...65_535).contains(number) else {
                throw Invalid("port '\(portText)' is not a number in 1...65535")
            }
            port = number
        }
        let database = try Self.decode(path, "the database")
        guard !database.contains("/") else { throw Invalid("the database '\(database)' contains '/'") }
        self.init(
            host: String(host), port: port, user: user, password: password,
            database: database.isEmpty ? Self.defaultDatabase : database)
    }

    /// Decodes `%XX` escapes.
    private static func decode(_ text: Substring, _ what: String) throws(Invalid) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let first = utf8.index(after: index)
                guard first != utf8.endIndex, utf8.index(after: first) != utf8.endIndex,
                    let value = UInt8(String(text[first..<utf8.index(first, offsetBy: 2)]), radix: 16)
                else { throw Invalid("\(what) has a bad percent escape") }
                bytes.append(value)
                index = utf8.index(first, offsetBy: 2)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw Invalid("\(what) is not UTF-8 once percent escapes are decoded")
        }
        return decoded
    }

    /// The DSN without its password (for reports and errors).
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)\(password == nil ? "" : ":***")@\(shownHost):\(port)/\(database)"
    }

    /// The DSN with its password, as given (for the canonical spec).
    public var text: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)\(password.map { ":\($0)" } ?? "")@\(shownHost):\(port)/\(database)"
    }
}
