import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseWire
import SwiftProtobuf

// libFuzzer target: a request payload as each server method reads it. The
// method is chosen by GATEHOUSE_FUZZ_METHOD (a path such as
// /gatehouse.v1.Features/Set); Tests/Fuzz/run.sh runs one campaign per method.
//
// For each method: decode its request message as the server does
// (ProtobufCoding.decode: `T(serializedBytes:)`), then apply the server's
// wire-to-domain mapping (GatehouseWire, and Core's validating initialisers)
// where the method has one. Neither may crash, whatever the octets. One
// property is checked too: a decoded message re-encodes (deterministically)
// to octets that decode to the same encoding.

/// Decodes `bytes` as `T`, checks the re-encoding property, and hands the message on.
private func decode<T: SwiftProtobuf.Message>(_: T.Type, _ bytes: [UInt8], then map: (T) -> Void = { _ in }) {
    guard let message = try? T(serializedBytes: bytes) else { return }
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    let encoded: [UInt8]
    do {
        encoded = try message.serializedBytes(options: options)
    } catch {
        // Only a message missing required fields (proto2) fails to encode; ours are proto3.
        preconditionFailure("a decoded \(T.protoMessageName) does not encode: \(error)")
    }
    guard let again = try? T(serializedBytes: encoded) else {
        preconditionFailure("the encoding of a decoded \(T.protoMessageName) does not decode")
    }
    let reencoded: [UInt8]? = try? again.serializedBytes(options: options)
    precondition(reencoded == encoded, "\(T.protoMessageName) does not re-encode to the same octets")
    map(message)
}

private func stage(_ present: Gatehouse_V1_Stage?) {
    if let present { _ = try? Stage(wire: present, field: "stage") }
}

/// Every method the server serves, with what it does to the request before its logic runs.
private let methods: [String: @Sendable ([UInt8]) -> Void] = [
    "/gatehouse.v1.Health/Check": { decode(Gatehouse_V1_HealthCheckRequest.self, $0) },
    "/gatehouse.v1.Health/Watch": { decode(Gatehouse_V1_HealthCheckRequest.self, $0) },
    "/gatehouse.v1.Server/Info": { decode(Gatehouse_V1_InfoRequest.self, $0) },
    "/gatehouse.v1.Features/List": {
        decode(Gatehouse_V1_ListFeaturesRequest.self, $0) { request in
            stage(request.stagePresent.map { switch $0 { case .stage(let value): value } })
        }
    },
    "/gatehouse.v1.Features/Get": { decode(Gatehouse_V1_GetFeatureRequest.self, $0) },
    "/gatehouse.v1.Features/Explain": { decode(Gatehouse_V1_ExplainRequest.self, $0) },
    "/gatehouse.v1.Features/History": {
        decode(Gatehouse_V1_HistoryRequest.self, $0) { request in
            if request.hasApi { _ = try? APISelector(wire: request.api, field: "api") }
        }
    },
    "/gatehouse.v1.Features/Set": {
        decode(Gatehouse_V1_SetRequest.self, $0) { request in _ = try? ChangeBatch(wire: request, actor: "fuzz") }
    },
    "/gatehouse.v1.Features/Define": {
        decode(Gatehouse_V1_DefineFeatureRequest.self, $0) { request in _ = try? FeatureDefinition(wire: request.feature, field: "feature") }
    },
    "/gatehouse.v1.Features/ImportCatalog": { decode(Gatehouse_V1_ImportCatalogRequest.self, $0) },
    "/gatehouse.v1.Apis/List": {
        decode(Gatehouse_V1_ListApisRequest.self, $0) { request in
            stage(request.stagePresent.map { switch $0 { case .stage(let value): value } })
        }
    },
    "/gatehouse.v1.Apis/Get": {
        decode(Gatehouse_V1_GetApiRequest.self, $0) { request in _ = try? APIRef(wire: request.api, field: "api") }
    },
    "/gatehouse.v1.Apis/Define": {
        decode(Gatehouse_V1_DefineApiRequest.self, $0) { request in _ = try? APIDefinition(wire: request.api, field: "api") }
    },
    "/gatehouse.v1.Apis/Activate": {
        decode(Gatehouse_V1_ActivateApiRequest.self, $0) { request in _ = try? APIRef(wire: request.api, field: "api") }
    },
    "/gatehouse.v1.Components/Register": {
        decode(Gatehouse_V1_RegisterRequest.self, $0) { request in
            _ = try? InstanceRef(validating: request.component, instanceID: request.instanceID, version: request.version)
            for (index, api) in request.apis.enumerated() { _ = try? APIRef(wire: api.api, field: "apis[\(index)].api") }
        }
    },
    "/gatehouse.v1.Components/List": { decode(Gatehouse_V1_ListComponentsRequest.self, $0) },
    "/gatehouse.v1.Components/Convergence": { decode(Gatehouse_V1_ConvergenceRequest.self, $0) },
    "/gatehouse.v1.Components/Subscribe": { decode(Gatehouse_V1_SubscribeRequest.self, $0) },
]

private let method: @Sendable ([UInt8]) -> Void = {
    let path = ProcessInfo.processInfo.environment["GATEHOUSE_FUZZ_METHOD"] ?? ""
    guard let method = methods[path] else {
        let known = methods.keys.sorted().joined(separator: "\n  ")
        fatalError("set GATEHOUSE_FUZZ_METHOD to one of:\n  \(known)")
    }
    return method
}()

/// `--list` prints the method paths, one a line, for Tests/Fuzz/run.sh.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    if CommandLine.arguments.contains("--list") {
        print(methods.keys.sorted().joined(separator: "\n"))
        exit(0)
    }
    _ = method
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    method(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
