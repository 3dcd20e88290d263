//! VGI's worker protocol `vgi.v2` as spoken over `vgi-rpc`: method names,
//! the Arrow schemas of their requests and results, and helpers to build and
//! read the one-row records they carry.
//!
//! Wrapped methods take `{request: binary}` holding the IPC stream of one
//! record and answer `{result: binary}` holding another; list answers hold
//! `{items: list<binary>}`, one record's IPC per item.

pub mod rows;
pub mod schemas;

/// The routing key every request carries (`vgi_rpc.protocol`).
pub const PROTOCOL_NAME: &str = "vgi.v2";
/// The protocol surface; peers must agree on major.minor.
pub const PROTOCOL_VERSION: &str = "2.0.0";

/// Method names.
pub mod methods {
    pub const CATALOG_ATTACH: &str = "catalog_attach";
    pub const CATALOG_SCHEMAS: &str = "catalog_schemas";
    pub const SCHEMA_FUNCTIONS: &str = "catalog_schema_contents_functions";
    /// Other listings a client makes while loading a catalog; always empty here.
    pub const SCHEMA_EMPTY_LISTINGS: [&str; 4] = [
        "catalog_schema_contents_tables",
        "catalog_schema_contents_views",
        "catalog_schema_contents_indexes",
        "catalog_schema_contents_macros",
    ];
    pub const BIND: &str = "bind";
    pub const INIT: &str = "init";
    pub const PROCESS: &str = "table_buffering_process";
    pub const COMBINE: &str = "table_buffering_combine";
    pub const DESTRUCTOR: &str = "table_buffering_destructor";
}

/// `init` phases of a buffering function.
pub mod phases {
    pub const SINK: &str = "TABLE_BUFFERING";
    pub const FINALIZE: &str = "TABLE_BUFFERING_FINALIZE";
}

/// The schema the worker serves its functions in.
pub const SCHEMA_NAME: &str = "main";
