//! VGI table buffering functions for DuckDB, in Rust.
//!
//! * [`error`]: the error type of every layer.
//! * [`ipc`]: Arrow IPC encoding of batches, checked before decoding.
//! * [`sdk`]: the API a function author implements ([`TableBufferingFunction`]).
//! * [`store`]: the cross-process filesystem store that holds state between
//!   sink and source.
//! * [`bridge`]: the DuckDB operator (C++ shim plus the Rust side of its FFI).
//! * [`functions`]: the functions this extension ships.
//! * [`protocol`] and [`worker`]: VGI's worker protocol over `vgi-rpc`, and a
//!   worker serving functions in a subprocess.

#[cfg(not(vgi_skip_bridge))]
pub mod bridge;
pub mod error;
pub mod functions;
pub mod ipc;
#[cfg(feature = "protocol")]
pub mod protocol;
pub mod sdk;
pub mod store;
#[cfg(feature = "worker")]
pub mod worker;

pub use sdk::*;
pub use store::BufferingStore;

#[cfg(all(feature = "extension", not(vgi_skip_bridge)))]
export_extension!(vgi, functions::all(), functions::settings());
