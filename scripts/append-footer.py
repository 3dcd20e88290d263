#!/usr/bin/env python3
"""Append DuckDB's 512-byte extension metadata footer to a shared library.

Layout (read by DuckDB when it loads an extension): eight 32-byte
NUL-padded fields written in reverse order (field 7 first, field 0 last),
then a 256-byte signature (zeros: unsigned). Fields: 0 magic "4",
1 platform, 2 DuckDB version (CPP ABI), 3 extension version, 4 ABI type.
"""
import argparse
import shutil


def field(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 32:
        raise SystemExit(f"footer field too long: {value!r}")
    return raw.ljust(32, b"\0")


def footer(platform: str, duckdb_version: str, ext_version: str, abi: str) -> bytes:
    fields = ["4", platform, duckdb_version, ext_version, abi, "", "", ""]
    return b"".join(field(v) for v in reversed(fields)) + b"\0" * 256


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("library")
    p.add_argument("output")
    p.add_argument("--platform", default="linux_amd64")
    p.add_argument("--duckdb-version", default="v2.0.0")
    p.add_argument("--extension-version", required=True)
    p.add_argument("--abi", default="CPP")
    args = p.parse_args()
    tmp = args.output + ".tmp"
    shutil.copyfile(args.library, tmp)
    with open(tmp, "ab") as f:
        f.write(footer(args.platform, args.duckdb_version, args.extension_version, args.abi))
    shutil.move(tmp, args.output)


if __name__ == "__main__":
    main()
