//! Drives `vgi-worker` processes through vgi-rpc's client over the whole
//! lifecycle of a buffering query, the way a VGI client does: attach, list,
//! bind, sink init, process (spread over two processes), combine, finalize
//! init (in a process other than the one that combined), destructor.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use vgi::protocol::rows::{
    decode_record, schema_from_ipc, schema_to_ipc, unwrap, wrap_request, Record, Row,
};
use vgi::protocol::{methods, phases, schemas, PROTOCOL_NAME, PROTOCOL_VERSION};
use vgi_rpc_client::RpcClient;

fn worker(tmpdir: &Path) -> RpcClient {
    let exe = env!("CARGO_BIN_EXE_vgi-worker");
    // The worker's store lives under TMPDIR, like the client's.
    let cmd = [
        "env".to_string(),
        format!("TMPDIR={}", tmpdir.display()),
        exe.to_string(),
    ];
    RpcClient::connect(&cmd)
        .expect("spawn vgi-worker")
        .protocol(PROTOCOL_NAME)
        .protocol_version(PROTOCOL_VERSION)
}

/// A wrapped unary call: returns the result record.
fn call(client: &mut RpcClient, method: &str, request: Row) -> Result<RecordBatch, String> {
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let (result, _) = client
        .call_unary(method, &params, None)
        .map_err(|e| e.to_string())?;
    Ok(unwrap(&result, "result").unwrap())
}

fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

fn input(from: i64, rows: i64) -> RecordBatch {
    let a: Int64Array = (from..from + rows).map(Some).collect();
    let s: StringArray = (from..from + rows)
        .map(|i| Some(format!("row {i}")))
        .collect();
    RecordBatch::try_new(input_schema(), vec![Arc::new(a), Arc::new(s)]).unwrap()
}

fn no_arguments() -> Vec<u8> {
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .unwrap();
    vgi::encode_batch(&batch).unwrap()
}

fn bind_request(function: &str) -> Row {
    Row::new(schemas::bind_request())
        .str("function_name", function)
        .bytes("arguments", &no_arguments())
        .enum_value("function_type", "TABLE")
        .bytes("input_schema", &schema_to_ipc(&input_schema()).unwrap())
}

fn init_request(
    function: &str,
    phase: &str,
    exec: Option<&[u8]>,
    finalize_id: Option<&[u8]>,
) -> Row {
    Row::new(schemas::init_request())
        .bytes("bind_call", &bind_request(function).to_ipc().unwrap())
        .bytes("output_schema", &schema_to_ipc(&input_schema()).unwrap())
        .enum_value("phase", phase)
        .opt_bytes("execution_id", exec)
        .opt_bytes("finalize_state_id", finalize_id)
}

/// Opens an `init` stream; returns the header's execution id and the batches.
fn init(client: &mut RpcClient, request: Row) -> Result<(Vec<u8>, Vec<RecordBatch>), String> {
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let mut session = client
        .open_producer(methods::INIT, &params, None, true)
        .map_err(|e| e.to_string())?;
    let (header, _) = session.header().cloned().expect("init has a header");
    let exec = Record::new(&header, "header")
        .unwrap()
        .bytes("execution_id")
        .unwrap();
    let mut batches = Vec::new();
    while let Some((batch, _)) = session.tick().map_err(|e| e.to_string())? {
        batches.push(batch);
    }
    session.close().map_err(|e| e.to_string())?;
    Ok((exec, batches))
}

fn process(client: &mut RpcClient, exec: &[u8], batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let request = Row::new(schemas::process_request())
        .str("function_name", "buffer_input")
        .bytes("execution_id", exec)
        .bytes("input_batch", &vgi::encode_batch(batch).unwrap());
    let result = call(client, methods::PROCESS, request)?;
    Ok(Record::new(&result, "process")
        .unwrap()
        .bytes("state_id")
        .unwrap())
}

fn executions(tmpdir: &Path) -> usize {
    let root = tmpdir.join(format!("vgi-buffering-{}", unsafe { libc_getuid() }));
    std::fs::read_dir(root).map(|d| d.count()).unwrap_or(0)
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

#[test]
fn catalog_lists_the_functions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    let attach = Row::new(schemas::catalog_attach_request()).str("name", "vgi");
    let attached = call(&mut w, methods::CATALOG_ATTACH, attach).unwrap();
    let attached = Record::new(&attached, "attach").unwrap();
    assert_eq!(attached.str("default_schema").unwrap(), "main");
    let opaque = attached.bytes("attach_opaque_data").unwrap();

    let params = Row::new(schemas::catalog_schemas_params()).bytes("attach_opaque_data", &opaque);
    let (result, _) = w
        .call_unary(methods::CATALOG_SCHEMAS, &params.build().unwrap(), None)
        .unwrap();
    let items = Record::new(&unwrap(&result, "result").unwrap(), "items")
        .unwrap()
        .byte_list("items")
        .unwrap();
    assert_eq!(items.len(), 1);
    let schema = decode_record(&items[0]).unwrap();
    assert_eq!(
        Record::new(&schema, "schema")
            .unwrap()
            .strings("path")
            .unwrap(),
        ["main"]
    );

    let params = Row::new(schemas::schema_contents_functions_params())
        .bytes("attach_opaque_data", &opaque)
        .strings("path", &["main".to_string()])
        .enum_value("type", "TABLE_FUNCTION");
    let (result, _) = w
        .call_unary(methods::SCHEMA_FUNCTIONS, &params.build().unwrap(), None)
        .unwrap();
    let items = Record::new(&unwrap(&result, "result").unwrap(), "items")
        .unwrap()
        .byte_list("items")
        .unwrap();
    let infos: Vec<RecordBatch> = items.iter().map(|i| decode_record(i).unwrap()).collect();
    assert_eq!(infos[0].schema(), schemas::function_info());
    let names: Vec<String> = infos
        .iter()
        .map(|i| Record::new(i, "info").unwrap().str("name").unwrap())
        .collect();
    assert!(names.contains(&"buffer_input".to_string()), "{names:?}");
    assert!(names.contains(&"sum_all_columns".to_string()), "{names:?}");
    let info = Record::new(
        &infos[names.iter().position(|n| n == "buffer_input").unwrap()],
        "info",
    )
    .unwrap();
    assert_eq!(
        info.opt_enum("function_type").unwrap().as_deref(),
        Some("TABLE_BUFFERING")
    );
    let arguments = schema_from_ipc(&info.bytes("arguments").unwrap()).unwrap();
    assert_eq!(arguments.field(0).name(), "data");
    assert_eq!(
        arguments
            .field(0)
            .metadata()
            .get("vgi_type")
            .map(String::as_str),
        Some("table")
    );
}

#[test]
fn a_query_runs_across_worker_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w1 = worker(tmp.path());
    let mut w2 = worker(tmp.path());

    let bound = call(&mut w1, methods::BIND, bind_request("buffer_input")).unwrap();
    let output = schema_from_ipc(
        &Record::new(&bound, "bind")
            .unwrap()
            .bytes("output_schema")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(output, input_schema());

    // Sink init mints the execution id; a peer init joins it.
    let (exec, rows) = init(
        &mut w1,
        init_request("buffer_input", phases::SINK, None, None),
    )
    .unwrap();
    assert!(rows.is_empty());
    let (joined, _) = init(
        &mut w2,
        init_request("buffer_input", phases::SINK, Some(&exec), None),
    )
    .unwrap();
    assert_eq!(joined, exec);

    // process alternates between the two processes.
    let mut state_ids = Vec::new();
    for i in 0..4 {
        let worker = if i % 2 == 0 { &mut w1 } else { &mut w2 };
        state_ids.push(process(worker, &exec, &input(i * 1000, 1000)).unwrap());
    }

    let combine = Row::new(schemas::combine_request())
        .str("function_name", "buffer_input")
        .bytes("execution_id", &exec)
        .byte_list("state_ids", &state_ids);
    let combined = call(&mut w2, methods::COMBINE, combine).unwrap();
    let finalize_ids = Record::new(&combined, "combine")
        .unwrap()
        .byte_list("finalize_state_ids")
        .unwrap();
    assert!(!finalize_ids.is_empty());

    // Finalize in the process that did not combine, projecting column `a`.
    let mut values = Vec::new();
    for id in &finalize_ids {
        let request = init_request("buffer_input", phases::FINALIZE, Some(&exec), Some(id)).set(
            "projection_ids",
            Arc::new(
                arrow_array::ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![
                    Some(0),
                ])]),
            ) as ArrayRef,
        );
        let (_, batches) = init(&mut w1, request).unwrap();
        for batch in batches {
            assert_eq!(batch.num_columns(), 1);
            values.extend(
                batch
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
    }
    values.sort_unstable();
    assert_eq!(values, (0..4000).collect::<Vec<i64>>());

    assert_eq!(executions(tmp.path()), 1);
    let destructor = Row::new(schemas::destructor_request())
        .str("function_name", "buffer_input")
        .bytes("execution_id", &exec);
    call(&mut w2, methods::DESTRUCTOR, destructor).unwrap();
    assert_eq!(
        executions(tmp.path()),
        0,
        "the destructor removes the execution's state"
    );
}

#[test]
fn errors_come_back_and_the_worker_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    let err = call(&mut w, methods::BIND, bind_request("no_such_function")).unwrap_err();
    assert!(err.contains("no function named no_such_function"), "{err}");

    let err = process(&mut w, b"0123456789abcdef", &input(0, 10)).unwrap_err();
    assert!(err.contains("unknown execution 30313233"), "{err}");

    // A function failing in process: its message reaches the client.
    let (exec, _) = init(
        &mut w,
        init_request("exception_process", phases::SINK, None, None),
    )
    .unwrap();
    let request = |i: i64| {
        Row::new(schemas::process_request())
            .str("function_name", "exception_process")
            .bytes("execution_id", &exec)
            .bytes("input_batch", &vgi::encode_batch(&input(i, 10)).unwrap())
    };
    let results: Vec<_> = (0..2)
        .map(|i| call(&mut w, methods::PROCESS, request(i)))
        .collect();
    let err = results
        .into_iter()
        .find_map(Result::err)
        .expect("one of two batches fails");
    assert!(
        err.contains("Intentional exception during process()"),
        "{err}"
    );

    // The same worker still serves a whole query.
    let (exec, _) = init(
        &mut w,
        init_request("buffer_input", phases::SINK, None, None),
    )
    .unwrap();
    let id = process(&mut w, &exec, &input(0, 5)).unwrap();
    let combine = Row::new(schemas::combine_request())
        .str("function_name", "buffer_input")
        .bytes("execution_id", &exec)
        .byte_list("state_ids", &[id]);
    let combined = call(&mut w, methods::COMBINE, combine).unwrap();
    let ids = Record::new(&combined, "combine")
        .unwrap()
        .byte_list("finalize_state_ids")
        .unwrap();
    let (_, batches) = init(
        &mut w,
        init_request("buffer_input", phases::FINALIZE, Some(&exec), Some(&ids[0])),
    )
    .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    assert!(batches[0]
        .column(1)
        .as_string::<i32>()
        .value(0)
        .starts_with("row "));
    assert!(batches[0].column(0).null_count() == 0);
}
