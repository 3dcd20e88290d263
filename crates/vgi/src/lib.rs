//! VGI table buffering functions, in Rust: the SDK. No DuckDB in it; the
//! DuckDB operator is the `vgi-duckdb` crate.
//!
//! * [`error`]: the error type of every layer.
//! * [`ipc`]: Arrow IPC encoding of batches, checked before decoding.
//! * [`sdk`]: the API a function author implements ([`TableBufferingFunction`]).
//! * [`store`]: the cross-process filesystem store that holds state between
//!   sink and source.
//! * [`protocol`] and [`worker`]: VGI's worker protocol over `vgi-rpc`, and a
//!   worker serving functions in a subprocess.

pub mod error;
pub mod ipc;
pub mod protocol;
pub mod sdk;
pub mod store;
pub mod worker;

pub use sdk::*;
pub use store::BufferingStore;
