//! A function bound from a `BindRequest`, as every phase of an execution
//! needs it, and the key under which the sink `init` persists it.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::protocol::args::from_wire;
use crate::protocol::rows::{decode_record, schema_from_ipc, Record};
use crate::sdk::check_arguments;
use crate::sdk::panic::catch_panic;
use crate::store::BufferingStore;
use crate::{
    Arguments, BindParams, BufferingParams, Error, Result, Settings, TableBufferingFunction,
};

/// Store key of an execution's InitRequest (bind call, output schema and
/// the bind's opaque data), written by the sink `init`.
pub(crate) const INIT_KEY: &[u8] = b"vgi.init";

/// Whether a worker opened execution `exec` in `store`: its sink `init` is
/// there. A client that shares the workers' store checks this before it
/// relies on that store to remove the execution.
pub fn opened_in(store: &BufferingStore, exec: &[u8]) -> Result<bool> {
    Ok(store.kv_modified(exec, INIT_KEY)?.is_some())
}

/// One bound call of a function.
pub(crate) struct Bound {
    pub(crate) function_index: usize,
    pub(crate) input_schema: SchemaRef,
    pub(crate) output_schema: SchemaRef,
    pub(crate) arguments: Arguments,
    pub(crate) settings: Settings,
    pub(crate) opaque_data: Option<Vec<u8>>,
}

/// A BindRequest read and checked, before the function's `on_bind` runs.
struct Call {
    function_index: usize,
    input_schema: SchemaRef,
    arguments: Arguments,
    settings: Settings,
}

impl Call {
    fn read(functions: &[Box<dyn TableBufferingFunction>], request: &RecordBatch) -> Result<Self> {
        let record = Record::new(request, "BindRequest")?;
        let name = record.str("function_name")?;
        let function_index = functions
            .iter()
            .position(|f| f.name() == name)
            .ok_or_else(|| Error::InvalidArgument(format!("no function named {name}")))?;
        let specs = functions[function_index].argument_specs();
        let arguments = from_wire(&specs, &decode_record(&record.bytes("arguments")?)?)?;
        check_arguments(&specs, &arguments)?;
        let settings = match record.opt_bytes("settings")? {
            Some(bytes) => Settings::from_row(&decode_record(&bytes)?)?,
            None => Settings::new(),
        };
        let input_schema = match record.opt_bytes("input_schema")? {
            Some(bytes) => schema_from_ipc(&bytes)?,
            None => {
                return Err(Error::InvalidArgument(format!(
                    "{name}: bind without an input schema"
                )))
            }
        };
        Ok(Call {
            function_index,
            input_schema,
            arguments,
            settings,
        })
    }

    fn with(self, output_schema: SchemaRef, opaque_data: Option<Vec<u8>>) -> Bound {
        Bound {
            function_index: self.function_index,
            input_schema: self.input_schema,
            output_schema,
            arguments: self.arguments,
            settings: self.settings,
            opaque_data,
        }
    }
}

impl Bound {
    /// Binds the BindRequest record `request`: runs the function's `on_bind`.
    pub(crate) fn bind(
        functions: &[Box<dyn TableBufferingFunction>],
        request: &RecordBatch,
    ) -> Result<Self> {
        let call = Call::read(functions, request)?;
        let function = &functions[call.function_index];
        let response = catch_panic(|| {
            function.on_bind(&BindParams {
                input_schema: call.input_schema.clone(),
                arguments: call.arguments.clone(),
                settings: call.settings.clone(),
            })
        })?;
        Ok(call.with(response.output_schema, response.opaque_data))
    }

    /// The call an InitRequest record names, with the output schema and
    /// opaque data its bind returned (`on_bind` does not run again, so every
    /// phase sees what the client's bind saw).
    pub(crate) fn from_init(
        functions: &[Box<dyn TableBufferingFunction>],
        init: &RecordBatch,
    ) -> Result<Self> {
        let record = Record::new(init, "InitRequest")?;
        let call = Call::read(functions, &decode_record(&record.bytes("bind_call")?)?)?;
        let output_schema = schema_from_ipc(&record.bytes("output_schema")?)?;
        Ok(call.with(output_schema, record.opt_bytes("bind_opaque_data")?))
    }

    /// Params for one call of execution `exec`.
    pub(crate) fn params(&self, exec: &[u8], store: &Arc<BufferingStore>) -> BufferingParams {
        let mut params = BufferingParams::new(
            exec.to_vec(),
            store.clone(),
            self.input_schema.clone(),
            self.output_schema.clone(),
        );
        params.arguments = self.arguments.clone();
        params.settings = self.settings.clone();
        params.attach_opaque_data = self.opaque_data.clone();
        params
    }
}
