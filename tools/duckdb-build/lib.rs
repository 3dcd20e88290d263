//! Empty: this crate exists only to compile libduckdb-sys's bundled DuckDB.
