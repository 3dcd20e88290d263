//! The buffering functions the `vgi` extension ships, and (with the
//! `fixtures` feature, which only the tests' build turns on) the test
//! fixtures.

mod buffer_input;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod sum_all_columns;

pub use buffer_input::BufferInput;
pub use sum_all_columns::SumAllColumns;

use std::sync::Arc;

use arrow_array::Int64Array;

use crate::{SettingSpec, TableBufferingFunction};

/// The DuckDB settings the `vgi` extension registers.
pub fn settings() -> Vec<SettingSpec> {
    vec![SettingSpec::new(
        buffer_input::PARTITIONS_SETTING,
        "How many parallel finalize producers buffer_input splits its buffered batches into",
        Arc::new(Int64Array::from(vec![buffer_input::DEFAULT_PARTITIONS])),
    )]
}

/// Every function the `vgi` extension registers: the shipped ones, and the
/// test fixtures in a build with the `fixtures` feature.
pub fn all() -> Vec<Box<dyn TableBufferingFunction>> {
    #[allow(unused_mut)]
    let mut functions = shipped();
    #[cfg(feature = "fixtures")]
    functions.extend(fixtures::all());
    functions
}

/// The functions `vgi.duckdb_extension` ships.
pub fn shipped() -> Vec<Box<dyn TableBufferingFunction>> {
    vec![Box::new(BufferInput), Box::new(SumAllColumns)]
}
