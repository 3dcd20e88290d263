//! What the wire tests share: the requests a `vgi.v3` client builds and
//! the unary calls of the buffering lifecycle, over any vgi-rpc client.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use vgi::protocol::rows::{schema_to_ipc, unwrap, wrap_request, Record, Row};
use vgi::protocol::{methods, schemas};
use vgi_rpc_client::{HttpClient, RpcClient};

/// A client that makes unary calls: the pipe client or the HTTP one.
pub trait Caller {
    /// `method` with `params`: the result batch, or the error's text.
    fn unary(&mut self, method: &str, params: &RecordBatch) -> Result<RecordBatch, String>;
}

impl Caller for RpcClient {
    fn unary(&mut self, method: &str, params: &RecordBatch) -> Result<RecordBatch, String> {
        let (result, _) = self
            .call_unary(method, params, None)
            .map_err(|e| e.to_string())?;
        Ok(result)
    }
}

impl Caller for HttpClient {
    fn unary(&mut self, method: &str, params: &RecordBatch) -> Result<RecordBatch, String> {
        let (result, _) = self
            .call_unary(method, params, None)
            .map_err(|e| e.to_string())?;
        Ok(result)
    }
}

/// A wrapped unary call: returns the result record.
pub fn call(client: &mut impl Caller, method: &str, request: Row) -> Result<RecordBatch, String> {
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let result = client.unary(method, &params)?;
    Ok(unwrap(&result, "result").unwrap())
}

pub fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

pub fn input(from: i64, rows: i64) -> RecordBatch {
    let a: Int64Array = (from..from + rows).map(Some).collect();
    let s: StringArray = (from..from + rows)
        .map(|i| Some(format!("row {i}")))
        .collect();
    RecordBatch::try_new(input_schema(), vec![Arc::new(a), Arc::new(s)]).unwrap()
}

/// The `arguments` bytes a v3 client sends: one row, one column `args`, a
/// struct of `positional_<i>` / `named_<name>` (an empty struct for none).
pub fn args(children: Vec<(&str, ArrayRef)>) -> Vec<u8> {
    let args: ArrayRef = if children.is_empty() {
        Arc::new(StructArray::new_empty_fields(1, None))
    } else {
        Arc::new(StructArray::from(
            children
                .into_iter()
                .map(|(n, v)| (Arc::new(Field::new(n, v.data_type().clone(), true)), v))
                .collect::<Vec<_>>(),
        ))
    };
    let schema = Schema::new(vec![Field::new("args", args.data_type().clone(), false)]);
    let batch = RecordBatch::try_new_with_options(
        Arc::new(schema),
        vec![args],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .unwrap();
    vgi::encode_batch(&batch).unwrap()
}

pub fn bind_request(function: &str, arguments: &[u8]) -> Row {
    Row::new(schemas::bind_request())
        .str("function_name", function)
        .bytes("arguments", arguments)
        .enum_value("function_type", "TABLE_BUFFERING")
        .bytes("input_schema", &schema_to_ipc(&input_schema()).unwrap())
}

/// What `bind` answered.
pub struct Bound {
    pub request: Vec<u8>,
    pub output_schema: Vec<u8>,
    pub opaque_data: Option<Vec<u8>>,
}

pub fn bind(client: &mut impl Caller, function: &str, arguments: &[u8]) -> Result<Bound, String> {
    let request = bind_request(function, arguments);
    let response = call(client, methods::BIND, request.clone())?;
    let record = Record::new(&response, "bind").unwrap();
    Ok(Bound {
        request: request.to_ipc().unwrap(),
        output_schema: record.bytes("output_schema").unwrap(),
        opaque_data: record.opt_bytes("opaque_data").unwrap(),
    })
}

/// The InitRequest a v3 client sends after `bound`.
pub fn init_request(
    bound: &Bound,
    phase: &str,
    exec: Option<&[u8]>,
    finalize_id: Option<&[u8]>,
) -> Row {
    Row::new(schemas::init_request())
        .bytes("bind_call", &bound.request)
        .bytes("output_schema", &bound.output_schema)
        .opt_bytes("bind_opaque_data", bound.opaque_data.as_deref())
        .enum_value("phase", phase)
        .opt_bytes("execution_id", exec)
        .opt_bytes("finalize_state_id", finalize_id)
}

pub fn process(
    client: &mut impl Caller,
    function: &str,
    exec: &[u8],
    batch: &RecordBatch,
    batch_index: Option<i64>,
) -> Result<Vec<u8>, String> {
    let request = Row::new(schemas::process_request())
        .str("function_name", function)
        .bytes("execution_id", exec)
        .bytes("input_batch", &vgi::encode_batch(batch).unwrap())
        .i64("batch_index", batch_index)
        .strings("schema_path", &["main".to_string()]);
    let result = call(client, methods::PROCESS, request)?;
    Ok(Record::new(&result, "process")
        .unwrap()
        .bytes("state_id")
        .unwrap())
}

pub fn combine(
    client: &mut impl Caller,
    function: &str,
    exec: &[u8],
    state_ids: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, String> {
    let request = Row::new(schemas::combine_request())
        .str("function_name", function)
        .bytes("execution_id", exec)
        .byte_list("state_ids", state_ids);
    let result = call(client, methods::COMBINE, request)?;
    Ok(Record::new(&result, "combine")
        .unwrap()
        .byte_list("finalize_state_ids")
        .unwrap())
}
