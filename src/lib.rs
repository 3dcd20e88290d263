//! VGI table buffering functions for DuckDB, in Rust.
//!
//! * [`sdk`]: the API a function author implements ([`TableBufferingFunction`]).
//! * [`store`]: the cross-process filesystem store that holds state between
//!   sink and source.
//! * [`bridge`]: the DuckDB operator (C++ shim plus the Rust side of its FFI).
//! * [`functions`]: the functions this extension ships.

#[cfg(not(vgi_skip_bridge))]
pub mod bridge;
pub mod functions;
pub mod sdk;
pub mod store;

pub use sdk::*;
pub use store::BufferingStore;

#[cfg(all(feature = "extension", not(vgi_skip_bridge)))]
export_extension!(vgi, functions::all(), functions::settings());
