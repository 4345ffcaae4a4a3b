import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// Maps failures to exit codes that tell refused, not found, denied and
/// unreachable apart (sysexits.h numbers), and prints them on stderr.
///
/// | code | meaning | from |
/// |---|---|---|
/// | 64 | bad usage | argument parsing, `ValidationError` |
/// | 65 | refused: invalid or unsafe change | INVALID_ARGUMENT, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, ALREADY_EXISTS; a manifest that cannot be parsed |
/// | 66 | not found | NOT_FOUND; an input file that cannot be read |
/// | 69 | server unreachable or timed out | UNAVAILABLE, DEADLINE_EXCEEDED; a connection refused, unresolvable or not answered in time |
/// | 70 | server or protocol error | anything else |
/// | 77 | permission denied | PERMISSION_DENIED, UNAUTHENTICATED |
/// | 78 | bad client config | a missing or unusable config, certificate or key; a server certificate the CA does not sign, a client certificate the server refuses |
enum ExitStatus {
    static func exitCode(for error: any Error) -> Int32 {
        switch error {
        case let error as RPCError:
            switch error.code {
            case .invalidArgument, .failedPrecondition, .aborted, .outOfRange, .alreadyExists: return 65
            case .notFound: return 66
            case .unavailable, .deadlineExceeded: return 69
            case .permissionDenied, .unauthenticated: return 77
            case .ok, .cancelled, .unknown, .resourceExhausted, .unimplemented, .internal, .dataLoss, .other: return 70
            }
        case let error as GateError:
            // Refused before any call (a bad --param, a malformed --feature-gates), by the same
            // domain rules the server applies: the same code as if the server had refused it.
            return Self.exitCode(for: error.rpcError)
        case let error as ConnectionFailure:
            return error.exitCode
        case is GatehouseClientError:
            return 78
        case is InputFileError:
            return 66
        case is ManifestError:
            return 65
        case is ValidationError:
            return 64
        default:
            return 70
        }
    }

    /// `CODE: message`, the line printed after `gatectl: `.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as RPCError:
            return "\(error.code): \(error.message)"
        case let error as GateError:
            return "\(error.rpcError.code): \(error.message)"
        case let error as ConnectionFailure:
            return "\(error.code): \(error)"
        case let error as GatehouseClientError:
            return "CONFIG: \(error)"
        case let error as InputFileError:
            return "NO_INPUT: \(error.message)"
        case let error as ManifestError:
            return "INVALID_MANIFEST: \(error)"
        case let error as ValidationError:
            return "USAGE: \(error.message)"
        default:
            return "ERROR: \(error)"
        }
    }

    /// Runs `body`; on failure prints `gatectl: CODE: message` on stderr and exits with the mapped code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            // A refusal quotes what was sent and what is stored: nothing in it may drive the terminal.
            FileHandle.standardError.write(Data("gatectl: \(ControlCharacters.escapedKeepingNewlines(Self.describe(error)))\n".utf8))
            throw ExitCode(Self.exitCode(for: error))
        }
    }
}

/// A file named on the command line that cannot be read (exit 66, as sysexits' EX_NOINPUT).
struct InputFileError: Error {
    var message: String
}
