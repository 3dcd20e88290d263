//! Tests that run the C++ shim through `ffi.rs`: its self-checks and the
//! FFI version and size check between the two halves.

use super::{VgiApi, API, VGI_FFI_VERSION};
use std::ffi::{c_char, c_int, CStr};

extern "C" {
    fn vgi_selftest_moved_child_outlives_batch(message: *mut c_char, len: usize) -> c_int;
    fn vgi_selftest_pool_reuses_freed_blocks(message: *mut c_char, len: usize) -> c_int;
    fn vgi_selftest_strings_import_as_duckdb_does(message: *mut c_char, len: usize) -> c_int;
    fn vgi_selftest_ffi_layout(version: *mut u32, size: *mut usize);
    fn vgi_selftest_ffi_check(api: *const VgiApi, message: *mut c_char, len: usize) -> c_int;
}

/// The version and size of `VgiApi` the C++ shim was compiled with.
fn cpp_layout() -> (u32, usize) {
    let (mut version, mut size) = (0, 0);
    // SAFETY: the C++ function writes both.
    unsafe { vgi_selftest_ffi_layout(&mut version, &mut size) };
    (version, size)
}

/// What the LOAD-time check says of `api`: None when it passes.
fn load_check(api: &VgiApi) -> Option<String> {
    let mut message = [0 as c_char; 512];
    // SAFETY: the check reads the table's version and size only and
    // writes at most `len` bytes into `message`.
    let status = unsafe { vgi_selftest_ffi_check(api, message.as_mut_ptr(), message.len()) };
    // SAFETY: NUL-terminated by snprintf (or all zero).
    let message = unsafe { CStr::from_ptr(message.as_ptr()) };
    (status != 0).then(|| message.to_string_lossy().into_owned())
}

#[test]
fn the_header_declares_the_ffi_version_rust_implements() {
    let header = include_str!("cpp/vgi_ffi.h");
    let declared: Vec<u32> = header
        .lines()
        .filter_map(|line| line.trim().strip_prefix("#define VGI_FFI_VERSION "))
        .map(|value| value.trim().parse().expect("a number"))
        .collect();
    assert_eq!(declared, [VGI_FFI_VERSION], "cpp/vgi_ffi.h vs ffi.rs");
}

#[test]
fn the_cpp_shim_was_built_for_the_rust_table() {
    assert_eq!(
        cpp_layout(),
        (VGI_FFI_VERSION, std::mem::size_of::<VgiApi>()),
        "(version, sizeof(VgiApi)) of the C++ shim vs the Rust table"
    );
    assert_eq!(API.size, std::mem::size_of::<VgiApi>());
    assert_eq!(load_check(&API), None);
}

#[test]
fn a_table_of_another_version_or_size_fails_the_load_naming_both() {
    let (cpp_version, cpp_size) = cpp_layout();
    let expected = |version: u32, size: usize| {
        format!(
            "vgi: FFI mismatch: C++ shim built for version {cpp_version} (size {cpp_size}), \
             Rust for version {version} (size {size})"
        )
    };
    let mut newer = API;
    newer.version += 1;
    assert_eq!(
        load_check(&newer),
        Some(expected(API.version + 1, API.size))
    );
    let mut larger = API;
    larger.size += 8;
    assert_eq!(
        load_check(&larger),
        Some(expected(API.version, API.size + 8))
    );
}

/// A C++ self-check that writes its failure into a message buffer: a
/// panic with that message unless it passes.
type SelfCheck = unsafe extern "C" fn(*mut c_char, usize) -> c_int;

fn assert_self_check(check: SelfCheck) {
    let mut message = [0 as c_char; 512];
    // SAFETY: the C++ check writes at most `len` bytes into `message`.
    let status = unsafe { check(message.as_mut_ptr(), message.len()) };
    // SAFETY: NUL-terminated by snprintf (or all zero).
    let message = unsafe { CStr::from_ptr(message.as_ptr()) };
    assert_eq!(status, 0, "{}", message.to_string_lossy());
}

#[test]
fn a_child_moved_out_of_a_gathered_batch_outlives_it() {
    assert_self_check(vgi_selftest_moved_child_outlives_batch);
}

#[test]
fn released_batches_give_their_blocks_to_the_next_within_the_pool_limit() {
    assert_self_check(vgi_selftest_pool_reuses_freed_blocks);
}

#[test]
fn strings_import_byte_for_byte_as_duckdb_s_own_conversion() {
    assert_self_check(vgi_selftest_strings_import_as_duckdb_does);
}
