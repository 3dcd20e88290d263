//! The buffering functions the `vgi` extension ships. The test fixtures
//! are the `vgi-fixtures` crate, which only the tests' builds take in.

mod buffer_input;
mod sum_all_columns;

pub use buffer_input::BufferInput;
pub use sum_all_columns::SumAllColumns;

use std::sync::Arc;

use arrow_array::Int64Array;

use vgi::{SettingSpec, TableBufferingFunction};

/// The DuckDB settings the `vgi` extension registers.
pub fn settings() -> Vec<SettingSpec> {
    vec![SettingSpec::new(
        buffer_input::PARTITIONS_SETTING,
        "How many parallel finalize producers buffer_input splits its buffered batches into",
        Arc::new(Int64Array::from(vec![buffer_input::DEFAULT_PARTITIONS])),
    )]
}

/// The functions `vgi.duckdb_extension` and `vgi-worker` ship (the tests'
/// builds add `vgi_fixtures::all()`).
pub fn all() -> Vec<Box<dyn TableBufferingFunction>> {
    vec![Box::new(BufferInput), Box::new(SumAllColumns)]
}
