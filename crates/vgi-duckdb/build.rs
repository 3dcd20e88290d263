//! Compiles the C++ half of the DuckDB bridge against one DuckDB release and
//! links that release statically, the way official extensions do.
//!
//! The release is `VGI_DUCKDB_VERSION` (default [`DEFAULT_DUCKDB_VERSION`]).
//! DuckDB itself is compiled once per machine and release by
//! `scripts/build-duckdb.sh VERSION` into `$VGI_CACHE_DIR/duckdb/vVERSION`
//! (default `~/.cache/vgi`); this script only links that archive, so no
//! change here can trigger a DuckDB rebuild.

use std::env;
use std::path::{Path, PathBuf};

/// The release built when `VGI_DUCKDB_VERSION` is not set (the Makefile always sets it).
const DEFAULT_DUCKDB_VERSION: &str = "2.0.1";

fn duckdb_version() -> String {
    env::var("VGI_DUCKDB_VERSION").unwrap_or_else(|_| DEFAULT_DUCKDB_VERSION.to_string())
}

fn duckdb_dir(version: &str) -> PathBuf {
    if let Some(dir) = env::var_os("VGI_DUCKDB_DIR") {
        return PathBuf::from(dir);
    }
    let cache = env::var_os("VGI_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("vgi")))
        .or_else(|| env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/vgi")))
        .expect("set VGI_CACHE_DIR or HOME");
    cache.join("duckdb").join(format!("v{version}"))
}

/// DuckDB's header directories (the `base.include_dirs` of its source manifest).
const INCLUDE_DIRS: &[&str] = &[
    "src/include",
    "third_party/concurrentqueue",
    "third_party/fast_float",
    "third_party/fmt/include",
    "third_party/fsst",
    "third_party/hyperloglog",
    "third_party/pcg",
    "third_party/re2",
    "third_party/skiplist",
    "third_party/tdigest",
    "third_party/utf8proc/include",
    "third_party/yyjson/include",
];

/// The C++ shim's sources and headers (`.cpp`, `.hpp`, `.h`) in `dir` and its
/// subfolders, in a stable order.
fn shim_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(shim_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("cpp" | "hpp" | "h")
        ) {
            files.push(path);
        }
    }
    files
}

fn main() {
    println!("cargo:rerun-if-env-changed=VGI_DUCKDB_DIR");
    println!("cargo:rerun-if-env-changed=VGI_DUCKDB_VERSION");
    println!("cargo:rerun-if-env-changed=VGI_CACHE_DIR");
    let version = duckdb_version();
    let duckdb = duckdb_dir(&version);
    let lib = duckdb.join("lib");
    let include = duckdb.join("include");
    if !duckdb.join("READY").exists() {
        panic!(
            "DuckDB v{version} is not built at {}: run scripts/build-duckdb.sh {version} (or `make`) first",
            duckdb.display()
        );
    }
    println!("cargo:rerun-if-changed={}", duckdb.join("READY").display());

    let shim_dir = PathBuf::from("src/cpp");
    let mut build = cc::Build::new();
    build.cpp(true).std("c++17");
    // DuckDB's headers as system headers: warnings inside them are not the
    // shim's, the shim's own code is held to -Wall -Wextra -Werror below.
    for dir in INCLUDE_DIRS {
        build.flag("-isystem").flag(include.join(dir));
    }
    build
        .include(&shim_dir)
        // The stock wheel is a release build: match its layout of DuckDB's classes.
        .define("NDEBUG", None)
        .flag_if_supported("-fvisibility=hidden")
        .flag_if_supported("-fvisibility-inlines-hidden")
        // -Wall -Wextra -Werror.
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .opt_level(2);
    // The folder too, so that a file added to it is compiled.
    println!("cargo:rerun-if-changed={}", shim_dir.display());
    for path in shim_files(&shim_dir) {
        // Every file of the shim, headers too: a change to any rebuilds it.
        println!("cargo:rerun-if-changed={}", path.display());
        if path.extension().and_then(|e| e.to_str()) == Some("cpp") {
            build.file(&path);
        }
    }
    build.compile("vgi_bridge");

    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=static=duckdb");
    println!("cargo:rustc-link-lib=dylib=stdc++");
}
