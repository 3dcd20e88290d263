//! The DuckDB bridge of the `vgi` SDK: the C++ operator in `cpp/` and the
//! Rust side of its C ABI. A crate that builds its own extension depends on
//! `vgi` (the functions) and this crate, and calls
//! [`export_extension!`](crate::export_extension).

mod arrow_ffi;
mod execution;
mod ffi;
mod guard;
mod in_place;
pub mod memory_budget;
mod registry;
mod s3_secret;
#[cfg(feature = "subprocess")]
pub mod subprocess;
#[cfg(not(feature = "subprocess"))]
#[path = "subprocess_disabled.rs"]
mod subprocess;

pub use registry::Registry;

/// Registers `registry`'s functions with DuckDB from an extension's
/// `<name>_duckdb_cpp_init` entry point.
///
/// # Safety
/// `loader` must be the `duckdb::ExtensionLoader &` DuckDB passed to the
/// entry point. DuckDB exceptions unwind through this function (hence the
/// `C-unwind` ABI on both sides).
pub unsafe fn init_extension(loader: *mut std::ffi::c_void, registry: Registry) {
    collect_orphans_at_load(&registry);
    let load_error = registry
        .load_error()
        .map(|e| std::ffi::CString::new(e.replace('\0', " ")).expect("NUL bytes were replaced"));
    let load_error_ptr = load_error.as_ref().map_or(std::ptr::null(), |e| e.as_ptr());
    // SAFETY: the caller passes DuckDB's loader; C++ owns the registry from
    // here on (the database that loads it frees it, also if loading fails).
    unsafe {
        ffi::vgi_bridge_init(
            loader,
            &ffi::API,
            Box::into_raw(Box::new(registry)),
            load_error_ptr,
        )
    }
}

/// Removes the state that processes which died mid-query left behind, once it
/// is older than the default time to live (the setting cannot be changed
/// before the extension is loaded; `vgi_store_gc()` uses its current value).
fn collect_orphans_at_load(registry: &Registry) {
    let Some(store) = registry.store() else {
        return;
    };
    let ttl = std::time::Duration::from_secs(registry::DEFAULT_ORPHAN_TTL_SECONDS.unsigned_abs());
    match store.collect_orphans(ttl) {
        Ok(orphans) => {
            for orphan in orphans {
                if let Some(e) = orphan.error {
                    eprintln!("vgi: could not remove orphaned state from the store: {e}");
                }
            }
        }
        Err(e) => eprintln!("vgi: could not remove orphaned state from the store: {e}"),
    }
}

/// Defines the DuckDB entry point `<name>_duckdb_cpp_init` of a loadable
/// extension named `name` that registers the given buffering functions
/// (and, optionally, a `Vec<SettingSpec>` of DuckDB settings).
///
/// ```ignore
/// vgi_duckdb::export_extension!(topk, vec![Box::new(TopK) as Box<dyn vgi::TableBufferingFunction>]);
/// ```
#[macro_export]
macro_rules! export_extension {
    ($name:ident, $functions:expr) => {
        $crate::export_extension!($name, $functions, ::std::vec::Vec::new());
    };
    ($name:ident, $functions:expr, $settings:expr) => {
        /// DuckDB's entry point for this extension.
        ///
        /// # Safety
        /// Called by DuckDB with its `ExtensionLoader`.
        #[export_name = concat!(stringify!($name), "_duckdb_cpp_init")]
        pub unsafe extern "C-unwind" fn __vgi_duckdb_cpp_init(loader: *mut ::std::ffi::c_void) {
            let registry = $crate::Registry::from_entry_point(|| $functions, || $settings);
            // SAFETY: DuckDB passes its ExtensionLoader.
            unsafe { $crate::init_extension(loader, registry) }
        }
    };
}
