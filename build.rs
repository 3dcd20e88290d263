//! Compiles the C++ half of the DuckDB bridge against DuckDB v2.0.0 and links
//! DuckDB statically, the way official extensions do.
//!
//! DuckDB itself is compiled once per machine by `scripts/build-duckdb.sh`
//! into `$VGI_CACHE_DIR/duckdb-v2.0.0` (default `~/.cache/vgi`); this script
//! only links that archive, so no change here can trigger a DuckDB rebuild.

use std::env;
use std::path::PathBuf;

fn duckdb_dir() -> PathBuf {
    if let Some(dir) = env::var_os("VGI_DUCKDB_DIR") {
        return PathBuf::from(dir);
    }
    let cache = env::var_os("VGI_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("vgi")))
        .or_else(|| env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/vgi")))
        .expect("set VGI_CACHE_DIR or HOME");
    cache.join("duckdb-v2.0.0")
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

fn main() {
    println!("cargo::rustc-check-cfg=cfg(vgi_skip_bridge)");
    println!("cargo:rerun-if-env-changed=VGI_DUCKDB_DIR");
    println!("cargo:rerun-if-env-changed=VGI_CACHE_DIR");
    println!("cargo:rerun-if-env-changed=VGI_SKIP_BRIDGE");
    if env::var_os("VGI_SKIP_BRIDGE").is_some() || env::var_os("CARGO_FEATURE_BRIDGE").is_none() {
        // SDK-only builds: workers (no DuckDB in them), and unit tests while
        // DuckDB is still compiling.
        println!("cargo:rustc-cfg=vgi_skip_bridge");
        return;
    }
    let duckdb = duckdb_dir();
    let lib = duckdb.join("lib");
    let include = duckdb.join("include");
    if !duckdb.join("READY").exists() {
        panic!(
            "DuckDB v2.0.0 is not built at {}: run scripts/build-duckdb.sh (or `make`) first",
            duckdb.display()
        );
    }
    println!("cargo:rerun-if-changed={}", duckdb.join("READY").display());

    let shim_dir = PathBuf::from("src/bridge/cpp");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .includes(INCLUDE_DIRS.iter().map(|d| include.join(d)))
        .include(&shim_dir)
        // The stock wheel is a release build: match its layout of DuckDB's classes.
        .define("NDEBUG", None)
        .flag_if_supported("-fvisibility=hidden")
        .flag_if_supported("-fvisibility-inlines-hidden")
        .warnings(false)
        .opt_level(2);
    for entry in std::fs::read_dir(&shim_dir).expect("src/bridge/cpp") {
        let path = entry.expect("dir entry").path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("cpp") => {
                println!("cargo:rerun-if-changed={}", path.display());
                build.file(&path);
            }
            Some("hpp") | Some("h") => println!("cargo:rerun-if-changed={}", path.display()),
            _ => {}
        }
    }
    build.compile("vgi_bridge");

    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=static=duckdb");
    println!("cargo:rustc-link-lib=dylib=stdc++");
}
