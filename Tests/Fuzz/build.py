#!/usr/bin/env python3
"""Builds the libFuzzer targets with swiftc -sanitize=fuzzer,address.

The code under test is compiled here with coverage instrumentation and
AddressSanitizer; everything else it needs (NIO, swift-log, ...) is linked
from the objects of the debug build `swift build` made, so nothing is built
twice. Usage: python3 Tests/Fuzz/build.py [frames|decoders ...] (default: both),
after `swift build --product gatehouse`. Outputs go to .build/fuzz/.

- frames-fuzzer: Sources/GatehouseRPC/Frames, the server connection state
  machine and what they use, compiled as one module (FrameFuzz) with
  Tests/Fuzz/FrameFuzz.swift.
- decoders-fuzzer: SwiftProtobuf, GatehouseCore, GatehouseProto and
  GatehouseWire compiled under their own names (replacing the debug build's
  objects at link time), with Tests/Fuzz/DecoderFuzz.swift.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBUG = os.path.join(ROOT, ".build", "debug")
OUT = os.path.join(ROOT, ".build", "fuzz")
MODULES = os.path.join(OUT, "Modules")
SANITIZE = ["-sanitize=fuzzer,address"]
# Optimised as a release would be, with debug info for the crash reports.
OPTIMIZE = ["-O", "-g", "-wmo", "-parse-as-library", "-swift-version", "6"]

# Instrumented for the decoders, in dependency order. Their debug-build objects are left out of the link.
DECODER_MODULES = ["SwiftProtobuf", "GatehouseCore", "GatehouseProto", "GatehouseWire"]
# Never linked: the executable's own objects (its main), the modules above the code under test,
# and (found by `not_linked`) every module of ours that depends on one of them.
NOT_LINKED_ROOTS = {"gatehouse", "GatehouseServer", "GatehouseStore"}


def compile_commands():
    """The swiftc arguments SwiftPM used for each module, from its build manifest."""
    manifest = open(os.path.join(ROOT, ".build", "debug.yaml"), encoding="utf-8").read()
    commands = {}
    for match in re.finditer(r'\n  "C\.([A-Za-z0-9_]+)-[^"]*\.module":\n(.*?)(?=\n  "|\Z)', manifest, re.S):
        args = re.search(r"args: (\[.*\])", match.group(2))
        if args:
            commands[match.group(1)] = json.loads(args.group(1))
    return commands


def clang_flags(args):
    """The -Xcc pairs (module maps and include paths of C dependencies)."""
    flags = []
    for index, arg in enumerate(args):
        if arg == "-Xcc" and index + 1 < len(args):
            flags += ["-Xcc", args[index + 1]]
    return flags


def run(command):
    print("+", " ".join(command[:6]), "...", flush=True)
    if subprocess.run(command).returncode != 0:
        raise SystemExit("Tests/Fuzz/build.py: the command above failed")


def swiftc(module, sources, clang, extra=()):
    """Compiles one instrumented module to .build/fuzz/<module>.o and its .swiftmodule,
    unless they are newer than its sources, this script and the modules compiled before it."""
    output = os.path.join(OUT, module + ".o")
    inputs = [*sources, os.path.abspath(__file__), *swiftc.compiled]
    swiftc.compiled.append(output)
    if os.path.exists(output) and os.path.getmtime(output) > max(os.path.getmtime(path) for path in inputs):
        print("  up to date:", module)
        return output
    run(
        ["swiftc", *SANITIZE, *OPTIMIZE, "-module-name", module,
         "-emit-module", "-emit-module-path", os.path.join(MODULES, module + ".swiftmodule"),
         "-I", MODULES, "-I", os.path.join(DEBUG, "Modules"),
         "-module-cache-path", os.path.join(OUT, "ModuleCache"),
         *clang, *extra, "-c", "-o", output, *sources]
    )
    os.utime(output)  # swiftc leaves an unchanged object untouched; mark it as checked
    return output


swiftc.compiled = []


def not_linked():
    """NOT_LINKED_ROOTS and every target of the package that depends on one of them, directly or not.
    Listing them by hand broke the link when a new module (GatehouseEtcd) came to depend on the store."""
    described = subprocess.run(
        ["swift", "package", "describe", "--type", "json"], cwd=ROOT, capture_output=True, text=True
    )
    if described.returncode != 0:
        sys.stderr.write(described.stderr)
        raise SystemExit("Tests/Fuzz/build.py: `swift package describe` failed")
    dependencies = {
        target["name"]: set(target.get("target_dependencies") or [])
        for target in json.loads(described.stdout)["targets"]
    }
    excluded = set(NOT_LINKED_ROOTS)
    while True:
        above = {name for name, needs in dependencies.items() if needs & excluded} - excluded
        if not above:
            return excluded
        excluded |= above


def debug_objects(replaced):
    """The debug build's objects for the gatehouse executable, minus the replaced and unneeded modules."""
    listing = os.path.join(DEBUG, "gatehouse.product", "Objects.LinkFileList")
    objects = []
    for line in open(listing, encoding="utf-8"):
        path = line.strip().strip('"').strip("'")
        module = re.search(r"/([^/]+)\.build/", path)
        if module and module.group(1) not in replaced and module.group(1) not in debug_objects.excluded:
            objects.append(path)
    return objects


debug_objects.excluded = set(NOT_LINKED_ROOTS)


def link(name, objects, replaced):
    output = os.path.join(OUT, name)
    listing = output + ".objects"
    linked = objects + debug_objects(replaced)
    if os.path.exists(output) and os.path.getmtime(output) > max(os.path.getmtime(path) for path in linked):
        print("  up to date:", name)
        return output
    with open(listing, "w", encoding="utf-8") as file:
        for path in linked:
            file.write('"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"\n')
    # Linked by swiftc, which reads the objects' autolink entries (Foundation, libssl, ...).
    run(["swiftc", *SANITIZE, "-g", "-use-ld=lld", "-o", output, "@" + listing])
    os.utime(output)
    return output


def module_sources(args):
    """The sources of a module, from the response file SwiftPM passed."""
    for arg in args:
        if arg.startswith("@") and arg.endswith("sources"):
            return [line.strip() for line in open(arg[1:], encoding="utf-8") if line.strip()]
    raise SystemExit("no source list in the manifest's command")


def build_frames(commands):
    rpc = os.path.join(ROOT, "Sources", "GatehouseRPC")
    sources = sorted(
        os.path.join(rpc, "Frames", name) for name in os.listdir(os.path.join(rpc, "Frames")) if name.endswith(".swift")
    ) + sorted(
        os.path.join(rpc, "Status", name) for name in os.listdir(os.path.join(rpc, "Status")) if name.endswith(".swift")
    ) + [
        os.path.join(rpc, "Connection", "ServerConnectionStateMachine.swift"),
        os.path.join(rpc, "Server", "RPCMethodDescriptor.swift"),
        os.path.join(ROOT, "Tests", "Fuzz", "FrameFuzz.swift"),
    ]
    swiftc.compiled = []
    obj = swiftc("FrameFuzz", sources, clang_flags(commands["GatehouseRPC"]))
    return link("frames-fuzzer", [obj], replaced=set())


def build_decoders(commands):
    objects = []
    swiftc.compiled = []
    for module in DECODER_MODULES:
        args = commands[module]
        defines = [arg for arg in args if arg.startswith("-D") and arg not in ("-DDEBUG",)]
        package = []
        if "-package-name" in args:
            package = ["-package-name", args[args.index("-package-name") + 1]]
        objects.append(swiftc(module, module_sources(args), clang_flags(args), [*defines, *package]))
    entry = swiftc("DecoderFuzz", [os.path.join(ROOT, "Tests", "Fuzz", "DecoderFuzz.swift")], clang_flags(commands["GatehouseWire"]))
    return link("decoders-fuzzer", objects + [entry], replaced=set(DECODER_MODULES))


def main():
    wanted = sys.argv[1:] or ["frames", "decoders"]
    os.makedirs(MODULES, exist_ok=True)
    if not os.path.exists(os.path.join(DEBUG, "gatehouse.product", "Objects.LinkFileList")):
        raise SystemExit("run `swift build --product gatehouse` first: the fuzzers link its objects")
    commands = compile_commands()
    debug_objects.excluded = not_linked()
    for target in wanted:
        if target == "frames":
            print(build_frames(commands))
        elif target == "decoders":
            print(build_decoders(commands))
        else:
            raise SystemExit(f"unknown target {target}: frames or decoders")


if __name__ == "__main__":
    main()
