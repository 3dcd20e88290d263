//! The buffering functions the `vgi` extension ships.

mod buffer_input;
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

/// Every function the `vgi` extension registers.
pub fn all() -> Vec<Box<dyn TableBufferingFunction>> {
    vec![
        Box::new(BufferInput),
        Box::new(SumAllColumns),
        Box::new(fixtures::ExceptionProcess),
        Box::new(fixtures::ExceptionFinalize),
        Box::new(fixtures::CrashOnCombine),
        Box::new(fixtures::PanicInPhase),
        Box::new(fixtures::OrderedBufferInput),
        Box::new(fixtures::BatchIndexBufferInput),
        Box::new(fixtures::OrderedSource),
        Box::new(fixtures::BufferEmitWide),
        Box::new(fixtures::LargeState),
        Box::new(fixtures::SlowPhase),
        Box::new(fixtures::EchoBuffering),
        Box::new(fixtures::BindNonce),
    ]
}
