#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora from Tests/Conformance/frames.json.

Usage: python3 Tests/Fuzz/seeds.py OUT_DIR METHOD_PATH...

- OUT_DIR/frames/: every vector's octets, each behind a few control octets
  (the first octet of a frames-fuzzer input: read size and local events, see
  Tests/Fuzz/FrameFuzz.swift), so the corpus starts from valid connections, every
  codec error, and reads down to one octet.
- OUT_DIR/decoders/<method>/: the payload of every client MESSAGE in the
  vectors (protobuf messages, several of them requests of that method).

Files are named by their SHA-1, as libFuzzer names what it adds.
"""

import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Whole input at once; one octet per read; reads of 7 with calls finishing, drain and deadlines.
CONTROLS = [0x00, 0x01, 0x75]


def write(directory, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as file:
        file.write(data)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out, methods = sys.argv[1], sys.argv[2:]
    with open(os.path.join(ROOT, "Tests", "Conformance", "frames.json"), encoding="utf-8") as file:
        vectors = json.load(file)
    payloads = set()
    for vector in vectors:
        octets = bytes.fromhex(vector["hex"])
        for control in CONTROLS:
            write(os.path.join(out, "frames"), bytes([control]) + octets)
        for frame in vector.get("frames", []):
            if frame["type"] == "MESSAGE":
                payloads.add(bytes.fromhex(frame["payload"]))
    payloads.add(b"")  # the empty message: every field at its default
    for method in methods:
        directory = os.path.join(out, "decoders", method.strip("/").replace("/", "_"))
        for payload in payloads:
            write(directory, payload)
    print(f"seeds: {len(vectors) * len(CONTROLS)} frame inputs, {len(payloads)} payloads for each of {len(methods)} methods")


if __name__ == "__main__":
    main()
