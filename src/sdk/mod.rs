//! The SDK surface: what a buffering function implements and receives.

pub mod arguments;
pub mod buffering;
pub mod constraints;
pub mod error;
pub mod function;
pub mod hugeint;
pub mod interrupt;
pub mod ipc;
mod ipc_check;
pub mod panic;
mod scalar;
pub mod setting_spec;
pub mod settings;
pub mod table_producer;

pub use arguments::Arguments;
pub use buffering::{BufferingParams, TableBufferingFunction};
pub use constraints::Constraints;
pub use error::{Error, Result};
pub use function::{check_arguments, ArgSpec, ArgType, BindParams, BindResponse, FunctionMetadata};
pub use interrupt::Interrupt;
pub use ipc::{decode_batches, encode_batch};
pub use setting_spec::SettingSpec;
pub use settings::Settings;
pub use table_producer::{StoreScanProducer, TableProducer, VecProducer};
