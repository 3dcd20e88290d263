//! The SDK surface: what a buffering function implements and receives.

pub mod arguments;
pub mod buffering;
pub mod constraints;
pub mod function;
pub mod hugeint;
pub mod in_place;
pub mod interrupt;
pub mod panic;
mod scalar;
pub mod setting_spec;
pub mod settings;
pub mod table_producer;

pub use crate::error::{Error, Result};
pub use crate::ipc::{decode_batches, encode_batch};
pub use arguments::Arguments;
pub use buffering::{BufferingParams, TableBufferingFunction};
pub use constraints::Constraints;
pub use function::{check_arguments, ArgSpec, ArgType, BindParams, BindResponse, FunctionMetadata};
pub use in_place::{ChunkView, ColumnView, InPlaceSink, Values};
pub use interrupt::Interrupt;
pub use setting_spec::SettingSpec;
pub use settings::Settings;
pub use table_producer::{StoreScanProducer, TableProducer, VecProducer};
