//! `buffer_input(data TABLE)`: buffers every input row in the store, then
//! returns them unchanged (same column names and types).

use arrow_array::RecordBatch;

use crate::{
    ArgSpec, BindParams, BindResponse, BufferingParams, FunctionMetadata, Result,
    TableBufferingFunction, TableProducer,
};

const ROWS: &[u8] = b"rows";

/// Returns its input after buffering all of it.
pub struct BufferInput;

impl TableBufferingFunction for BufferInput {
    fn name(&self) -> &str {
        "buffer_input"
    }

    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Buffers every row of the input table in the VGI store, then returns the rows \
             unchanged (same column names and types).",
        )
        .with_example("SELECT * FROM buffer_input((SELECT * FROM range(10) t(i)))")
    }

    fn argument_specs(&self) -> Vec<ArgSpec> {
        vec![ArgSpec::table("data").with_doc("the table to buffer")]
    }

    fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
        Ok(BindResponse::new(params.input_schema.clone()))
    }

    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        let id = params.append_batch(ROWS, b"", batch)?;
        Ok(id.to_le_bytes().to_vec())
    }

    fn combine(&self, _params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if state_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![ROWS.to_vec()])
    }

    fn finalize_producer(
        &self,
        params: &BufferingParams,
        _finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>> {
        Ok(params.batch_producer(ROWS, b""))
    }
}
