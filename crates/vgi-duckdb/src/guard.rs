//! Runs Rust code called from C++ so that neither an error nor a panic
//! crosses the FFI boundary: both become an error message for DuckDB.

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use vgi::sdk::panic::panic_message;

/// Runs `f`; on error or panic stores a message in `*error` and returns None.
pub(crate) fn guarded<T>(error: *mut *mut c_char, f: impl FnOnce() -> vgi::Result<T>) -> Option<T> {
    let message = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => return Some(value),
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!("panicked: {}", panic_message(&*panic)),
    };
    if !error.is_null() {
        let message = CString::new(message.replace('\0', " ")).expect("NUL bytes were replaced");
        // SAFETY: the C++ caller passes a valid out pointer.
        unsafe { *error = message.into_raw() };
    }
    None
}

/// Like [`guarded`], for entry points that cannot report an error (frees):
/// a panic is printed to stderr instead.
pub(crate) fn quietly(f: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
        eprintln!(
            "vgi: panic while releasing state: {}",
            panic_message(&*panic)
        );
    }
}

/// Frees an error message handed to C++.
///
/// # Safety
/// `error` must come from [`guarded`] or be null.
pub(crate) unsafe extern "C" fn vgi_error_free(error: *mut c_char) {
    if !error.is_null() {
        // SAFETY: produced by CString::into_raw in `guarded`.
        drop(unsafe { CString::from_raw(error) });
    }
}
