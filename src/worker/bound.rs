//! A function bound from a `BindRequest`, as every phase of an execution
//! needs it, and the request's persistence under the execution id.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::protocol::rows::{decode_record, schema_from_ipc, Record};
use crate::sdk::check_arguments;
use crate::sdk::panic::catch_panic;
use crate::store::BufferingStore;
use crate::{
    ArgSpec, ArgType, Arguments, BindParams, BufferingParams, Error, Result, Settings,
    TableBufferingFunction,
};

/// Store key of an execution's BindRequest.
pub(crate) const BIND_KEY: &[u8] = b"vgi.bind";

/// One bound call of a function.
pub(crate) struct Bound {
    pub(crate) function_index: usize,
    pub(crate) input_schema: SchemaRef,
    pub(crate) output_schema: SchemaRef,
    pub(crate) arguments: Arguments,
    pub(crate) settings: Settings,
    pub(crate) opaque_data: Option<Vec<u8>>,
}

impl Bound {
    /// Binds the BindRequest record `request` against `functions`.
    pub(crate) fn bind(
        functions: &[Box<dyn TableBufferingFunction>],
        request: &RecordBatch,
    ) -> Result<Self> {
        let record = Record::new(request, "BindRequest")?;
        let name = record.str("function_name")?;
        let function_index = functions
            .iter()
            .position(|f| f.name() == name)
            .ok_or_else(|| Error::InvalidArgument(format!("no function named {name}")))?;
        let function = &functions[function_index];
        let specs = function.argument_specs();
        let arguments = arguments_from_wire(&decode_record(&record.bytes("arguments")?)?, &specs)?;
        check_arguments(&specs, &arguments).map_err(|e| in_function(&name, e))?;
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
        let response = catch_panic(|| {
            function.on_bind(&BindParams {
                input_schema: input_schema.clone(),
                arguments: arguments.clone(),
                settings: settings.clone(),
            })
        })
        .map_err(|e| in_function(&name, e))?;
        Ok(Bound {
            function_index,
            input_schema,
            output_schema: response.output_schema,
            arguments,
            settings,
            opaque_data: response.opaque_data,
        })
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

fn in_function(name: &str, e: Error) -> Error {
    Error::function(format!("{name}: {e}"))
}

/// The call's arguments from a one-row batch: columns named after the
/// function's parameters, or VGI's `positional_<i>` / `named_<name>`
/// (positions count the non-TABLE positional parameters).
fn arguments_from_wire(batch: &RecordBatch, specs: &[ArgSpec]) -> Result<Arguments> {
    let positional: Vec<&ArgSpec> = specs
        .iter()
        .filter(|s| !s.named && !matches!(s.data_type, ArgType::Table))
        .collect();
    let schema = batch.schema();
    let mut pairs = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let name = field.name();
        let name = if let Some(i) = name.strip_prefix("positional_") {
            let i: usize = i
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("bad argument name {name}")))?;
            positional
                .get(i)
                .map(|s| s.name.clone())
                .ok_or_else(|| Error::InvalidArgument(format!("no positional argument {i}")))?
        } else if let Some(named) = name.strip_prefix("named_") {
            named.to_string()
        } else {
            name.clone()
        };
        pairs.push((name, column.clone()));
    }
    Arguments::try_from_pairs(pairs)
}
