import ArgumentParser
import Foundation
import GatehouseClient

/// Maps failures to exit codes that tell refused, not found, denied and
/// unreachable apart (sysexits.h numbers), and prints them on stderr.
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
        case is GatehouseClientError:
            return 78
        default:
            return 70
        }
    }

    /// Runs `body`; on failure prints `gatectl: <why>` and exits with the mapped code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            let message: String
            if let error = error as? RPCError {
                message = "\(error.code): \(error.message)"
            } else {
                message = "\(error)"
            }
            FileHandle.standardError.write(Data("gatectl: \(message)\n".utf8))
            throw ExitCode(Self.exitCode(for: error))
        }
    }
}
