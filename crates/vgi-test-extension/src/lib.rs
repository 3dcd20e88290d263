//! The tests' build of the `vgi` extension: the shipped functions, then the
//! test fixtures (`vgi-fixtures`), under the same entry point
//! `vgi_duckdb_cpp_init`.

vgi_duckdb::export_extension!(
    vgi,
    {
        let mut functions = vgi_functions::all();
        functions.extend(vgi_fixtures::all());
        functions
    },
    vgi_functions::settings()
);
