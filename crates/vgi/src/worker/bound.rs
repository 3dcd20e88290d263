//! A function bound from a `BindRequest`, as every phase of an execution
//! needs it, and the key under which the sink `init` persists it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

/// The longest a use of an execution goes unrecorded.
const USE_RECORDED_WITHIN: Duration = Duration::from_secs(1);

/// Marks execution `exec` as used now, for the workers that remove
/// executions idle for `idle`; false if it is not open (no init, or it
/// ended). A use recorded less than a second (or a tenth of `idle`) ago is
/// left as it is: in object storage the mark is a read and a rewrite of the
/// init record, which every call of an execution would otherwise pay.
pub(crate) fn mark_used(store: &BufferingStore, exec: &[u8], idle: Duration) -> Result<bool> {
    let fresh = USE_RECORDED_WITHIN.min(idle / 10);
    match store.kv_modified(exec, INIT_KEY)? {
        None => Ok(false),
        Some(at)
            if SystemTime::now()
                .duration_since(at)
                .is_ok_and(|age| age >= fresh) =>
        {
            store.kv_touch(exec, INIT_KEY)
        }
        // Recorded within `fresh`, or later than this clock's now.
        Some(_) => Ok(true),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[test]
    fn a_use_is_recorded_unless_one_was_within_a_tenth_of_the_idle_time() {
        let (_dir, store) = test_store();
        let idle = Duration::from_secs(600);
        assert!(!mark_used(&store, b"e", idle).unwrap(), "no init: not open");
        store.kv_put(b"e", INIT_KEY, b"init").unwrap();
        let written = store.kv_modified(b"e", INIT_KEY).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(mark_used(&store, b"e", idle).unwrap());
        assert_eq!(
            store.kv_modified(b"e", INIT_KEY).unwrap(),
            Some(written),
            "written just now: left as it is"
        );
        assert!(mark_used(&store, b"e", Duration::from_millis(50)).unwrap());
        let touched = store.kv_modified(b"e", INIT_KEY).unwrap().unwrap();
        assert!(touched > written, "older than a tenth of 50 ms: recorded");
        assert_eq!(
            store.kv_get(b"e", INIT_KEY).unwrap().as_deref(),
            Some(&b"init"[..])
        );
        store.clear(b"e").unwrap();
        assert!(!mark_used(&store, b"e", idle).unwrap(), "ended: not open");
    }
}
