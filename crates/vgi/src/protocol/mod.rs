//! VGI's worker protocol `vgi.v3` as spoken over `vgi-rpc`: method names,
//! the Arrow schemas of their requests and results, and helpers to build and
//! read the one-row records they carry.
//!
//! Wrapped methods take `{request: binary}` holding the IPC stream of one
//! record and answer `{result: binary}` holding another; list answers hold
//! `{items: list<binary>}`, one record's IPC per item.

pub mod args;
pub mod rows;
pub mod schemas;
pub mod shm;

/// The routing key every request carries (`vgi_rpc.protocol`).
/// The major version is part of the name: a server of `vgi.v3` answers a
/// `vgi.v2` request with vgi-rpc's `ProtocolError` ("does not host").
pub const PROTOCOL_NAME: &str = "vgi.v3";
/// The protocol surface; vgi-rpc's version gate requires the client's
/// major.minor to equal it (the patch is ignored).
pub const PROTOCOL_VERSION: &str = "3.0.0";

/// Method names.
pub mod methods {
    pub const CATALOG_CATALOGS: &str = "catalog_catalogs";
    pub const CATALOG_ATTACH: &str = "catalog_attach";
    pub const CATALOG_SCHEMAS: &str = "catalog_schemas";
    pub const SCHEMA_FUNCTIONS: &str = "catalog_schema_contents_functions";
    /// Listed with a `type` (`SCALAR_MACRO`, `TABLE_MACRO`); always empty here.
    pub const SCHEMA_MACROS: &str = "catalog_schema_contents_macros";
    /// Other listings a client makes while loading a catalog; always empty here.
    pub const SCHEMA_EMPTY_LISTINGS: [&str; 3] = [
        "catalog_schema_contents_tables",
        "catalog_schema_contents_views",
        "catalog_schema_contents_indexes",
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

/// What a bind answers as `repeatability`: whether a repeated call gives the
/// same rows is not known for a function in general.
pub const REPEATABILITY: &str = "UNKNOWN";

/// The catalog name `catalog_catalogs` lists and `catalog_attach` accepts.
pub const CATALOG_NAME: &str = "vgi";

/// The schema the worker serves its functions in.
pub const SCHEMA_NAME: &str = "main";
