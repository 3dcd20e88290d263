//! The `vgi` extension as shipped: `vgi.duckdb_extension` with the functions
//! of `vgi-functions` (and the store GC the bridge adds), no test fixture.

vgi_duckdb::export_extension!(vgi, vgi_functions::all(), vgi_functions::settings());
