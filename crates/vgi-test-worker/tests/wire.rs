//! Drives `vgi-worker` processes through vgi-rpc's client as a `vgi.v3`
//! client does: the catalog listing (every record's schema checked field by
//! field against the v3 facts, written out here independently of
//! `crates/vgi/src/protocol/schemas.rs`), the buffering lifecycle across two worker
//! processes, arguments in the `args` struct, errors in every phase, the
//! version gate, and the removal of an execution's state without the
//! destructor.
//!
//! (Over 600 lines: about a third is the v3 schemas written out field by
//! field; the tests share one client harness, and one test binary starts
//! the worker processes once.)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    ArrayRef, BooleanArray, Int32Array, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow_schema::Schema;
use vgi::protocol::rows::{decode_record, schema_from_ipc, unwrap, wrap_request, Record, Row};
use vgi::protocol::shm::{self, Segment};
use vgi::protocol::{methods, phases, schemas};
use vgi_rpc_client::RpcClient;

mod support;
use support::*;

/// Opens an `init` stream; returns the header's execution id and the batches.
fn init(client: &mut RpcClient, request: Row) -> Result<(Vec<u8>, Vec<RecordBatch>), String> {
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let mut session = client
        .open_producer(methods::INIT, &params, None, true)
        .map_err(|e| e.to_string())?;
    let (header, _) = session.header().cloned().expect("init has a header");
    expect(
        &header.schema(),
        &s(&[
            "execution_id: Binary NN",
            "opaque_data: Binary",
            "max_workers: Int64 NN",
        ]),
        "GlobalInitResponse",
    );
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

/// A worker whose store lives under `tmpdir` (like its client's), spoken
/// to as `protocol` `version`.
fn client(tmpdir: &Path, args: &[&str], protocol: &str, version: &str) -> RpcClient {
    let exe = env!("CARGO_BIN_EXE_vgi-test-worker");
    let mut cmd = vec![
        "env".to_string(),
        format!("TMPDIR={}", tmpdir.display()),
        exe.to_string(),
    ];
    cmd.extend(args.iter().map(|a| a.to_string()));
    RpcClient::connect(&cmd)
        .expect("spawn vgi-worker")
        .protocol(protocol)
        .protocol_version(version)
}

/// A worker spoken to as a v3 client (the name and version the published
/// clients send, not the crate's constants).
fn worker(tmpdir: &Path) -> RpcClient {
    client(tmpdir, &[], "vgi.v3", "3.0.0")
}

/// A flat unary call answering `{items}`: returns each item's record.
fn list(client: &mut RpcClient, method: &str, params: RecordBatch) -> Vec<RecordBatch> {
    let (result, _) = client.call_unary(method, &params, None).unwrap();
    assert_eq!(describe(&result.schema()), ["result: Binary NN"]);
    let items = Record::new(&unwrap(&result, "result").unwrap(), "items")
        .unwrap()
        .byte_list("items")
        .unwrap();
    items.iter().map(|i| decode_record(i).unwrap()).collect()
}

/// Each field as `name: type` (Arrow's debug spelling), ` NN` if not nullable.
fn describe(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let nn = if f.is_nullable() { "" } else { " NN" };
            format!("{}: {}{nn}", f.name(), f.data_type())
        })
        .collect()
}

const ENUM: &str = "Dictionary(Int16, Utf8)";
const DBIN: &str = "Dictionary(Int32, Binary)";
const UTF8_LIST: &str = "List(Utf8)";
const BINARY_LIST: &str = "List(Binary)";
const TAGS: &str =
    "Map(\"entries\": non-null Struct(\"key\": non-null Utf8, \"value\": Utf8), unsorted)";

fn expect(actual: &Schema, expected: &[String], what: &str) {
    let actual = describe(actual);
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "{what} field {}", i + 1);
    }
    assert_eq!(actual.len(), expected.len(), "{what}: {actual:#?}");
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn destructor(client: &mut RpcClient, function: &str, exec: &[u8]) -> RecordBatch {
    let request = Row::new(schemas::destructor_request())
        .str("function_name", function)
        .bytes("execution_id", exec);
    call(client, methods::DESTRUCTOR, request).unwrap()
}

/// A whole query of `function` in one worker: every batch of `inputs` (with
/// its batch index), combine, each finalize id in turn. No destructor.
fn query(
    client: &mut RpcClient,
    function: &str,
    arguments: &[u8],
    inputs: &[(RecordBatch, Option<i64>)],
) -> Result<Vec<RecordBatch>, String> {
    let bound = bind(client, function, arguments)?;
    let (exec, _) = init(client, init_request(&bound, phases::SINK, None, None))?;
    let mut state_ids = Vec::new();
    for (batch, index) in inputs {
        state_ids.push(process(client, function, &exec, batch, *index)?);
    }
    let ids = combine(client, function, &exec, &state_ids)?;
    let mut out = Vec::new();
    for id in &ids {
        let request = init_request(&bound, phases::FINALIZE, Some(&exec), Some(id));
        out.extend(init(client, request)?.1);
    }
    Ok(out)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn int64s(batches: &[RecordBatch], column: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column(column)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Executions with state in the store under `tmpdir`.
fn executions(tmpdir: &Path) -> usize {
    let root = tmpdir.join(format!("vgi-buffering-{}", unsafe { libc_getuid() }));
    std::fs::read_dir(root).map(|d| d.count()).unwrap_or(0)
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

#[test]
fn catalog_listing_has_the_v3_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());

    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .unwrap();
    let catalogs = list(&mut w, methods::CATALOG_CATALOGS, one_row);
    assert_eq!(catalogs.len(), 1);
    let releases = "List(Struct(\"version\": non-null Utf8, \"released_at\": Timestamp(µs, \"UTC\"), \"summary\": non-null Utf8, \"notes_url\": Utf8))";
    expect(
        &catalogs[0].schema(),
        &[
            "name: Utf8 NN".into(),
            "implementation_version: Utf8".into(),
            "data_version_spec: Utf8".into(),
            format!("attach_option_specs: {BINARY_LIST} NN"),
            format!("releases: {releases} NN"),
            "source_url: Utf8".into(),
        ],
        "CatalogInfo",
    );
    let name = Record::new(&catalogs[0], "catalog")
        .unwrap()
        .str("name")
        .unwrap();
    assert_eq!(name, "vgi");

    let attach = Row::new(schemas::catalog_attach_request()).str("name", &name);
    let attached = call(&mut w, methods::CATALOG_ATTACH, attach).unwrap();
    let eval_context = "Struct(\"timezone\": non-null Utf8, \"collation\": non-null Utf8, \"default_order\": non-null Utf8, \"default_null_order\": non-null Utf8, \"preserve_insertion_order\": non-null Boolean)";
    let query_pushdown = format!(
        "Struct(\"encoding\": non-null Utf8, \"semantic_profiles\": non-null List(Utf8), \"execution_modes\": non-null List(Utf8), \"backend_engine\": non-null Utf8, \"backend_version\": non-null Utf8, \"capability_revision\": non-null Utf8, \"default_evaluation_context\": non-null {eval_context}, \"max_query_bytes\": non-null Int64)"
    );
    expect(
        &attached.schema(),
        &[
            "attach_opaque_data: Binary NN".into(),
            "supports_transactions: Boolean NN".into(),
            "supports_time_travel: Boolean NN".into(),
            "catalog_version_frozen: Boolean NN".into(),
            "catalog_version: Int64 NN".into(),
            "attach_opaque_data_required: Boolean NN".into(),
            "default_schema: Utf8".into(),
            format!("settings: {BINARY_LIST} NN"),
            format!("secret_types: {BINARY_LIST} NN"),
            format!("attach_catalogs: {BINARY_LIST} NN"),
            "comment: Utf8".into(),
            format!("tags: {TAGS} NN"),
            "supports_column_statistics: Boolean NN".into(),
            format!("global_functions: {BINARY_LIST} NN"),
            "global_function_prefix: Utf8 NN".into(),
            "resolved_data_version: Utf8".into(),
            "resolved_implementation_version: Utf8".into(),
            "supports_catalog_contents: Boolean NN".into(),
            "catalog_capabilities: Binary".into(),
            "selected_capabilities: Binary".into(),
            format!("query_pushdown: {query_pushdown}"),
        ],
        "CatalogAttachResult",
    );
    let attached = Record::new(&attached, "attach").unwrap();
    assert_eq!(attached.str("default_schema").unwrap(), "main");
    assert_eq!(
        attached.opt_bool("supports_catalog_contents").unwrap(),
        Some(false)
    );
    let opaque = attached.bytes("attach_opaque_data").unwrap();

    let params = Row::new(schemas::catalog_schemas_params()).bytes("attach_opaque_data", &opaque);
    let listed = list(&mut w, methods::CATALOG_SCHEMAS, params.build().unwrap());
    assert_eq!(listed.len(), 1);
    let counts =
        "Map(\"entries\": non-null Struct(\"key\": non-null Utf8, \"value\": Int64), unsorted)";
    expect(
        &listed[0].schema(),
        &[
            "comment: Utf8".into(),
            format!("tags: {TAGS} NN"),
            format!("path: {UTF8_LIST} NN"),
            format!("estimated_object_count: {counts}"),
            "options: Binary".into(),
        ],
        "SchemaInfo",
    );
    let path = Record::new(&listed[0], "schema")
        .unwrap()
        .strings("path")
        .unwrap();
    assert_eq!(path, ["main"]);

    let contents = |kind: &str| {
        Row::new(schemas::schema_contents_functions_params())
            .bytes("attach_opaque_data", &opaque)
            .strings("path", &path)
            .enum_value("type", kind)
            .build()
            .unwrap()
    };
    let infos = list(
        &mut w,
        methods::SCHEMA_FUNCTIONS,
        contents("TABLE_FUNCTION"),
    );
    assert!(list(
        &mut w,
        methods::SCHEMA_FUNCTIONS,
        contents("SCALAR_FUNCTION")
    )
    .is_empty());
    assert!(list(&mut w, methods::SCHEMA_MACROS, contents("TABLE_MACRO")).is_empty());
    for listing in methods::SCHEMA_EMPTY_LISTINGS {
        let params = Row::new(schemas::schema_contents_params())
            .bytes("attach_opaque_data", &opaque)
            .strings("path", &path);
        assert!(list(&mut w, listing, params.build().unwrap()).is_empty());
    }

    let filter_ref = "List(Struct(\"namespace\": non-null Utf8, \"name\": non-null Utf8, \"version\": non-null UInt64))";
    let function_info: Vec<String> = vec![
        "comment: Utf8".into(),
        format!("tags: {TAGS} NN"),
        "name: Utf8 NN".into(),
        format!("schema_path: {UTF8_LIST} NN"),
        format!("function_type: {ENUM} NN"),
        format!("arguments: {DBIN} NN"),
        format!("output_schema: {DBIN} NN"),
        format!("parameter_default_values: {DBIN}"),
        format!("stability: {ENUM}"),
        format!("null_handling: {ENUM}"),
        format!("argument_monotonicity: {UTF8_LIST}"),
        "description: Utf8 NN".into(),
        "examples: List(Struct(\"sql\": non-null Utf8, \"description\": non-null Utf8, \"expected_output\": Utf8)) NN".into(),
        format!("categories: {UTF8_LIST} NN"),
        "projection_pushdown: Boolean".into(),
        "filter_pushdown: Boolean".into(),
        "sampling_pushdown: Boolean".into(),
        "late_materialization: Boolean".into(),
        format!("filter_semantic_profiles: {UTF8_LIST} NN"),
        format!("additional_filter_functions: {filter_ref} NN"),
        format!("runtime_filter_algorithms: {filter_ref} NN"),
        "filter_evaluation_contexts: List(Struct(\"profile\": non-null Utf8, \"provider_fingerprint\": Utf8)) NN".into(),
        format!("order_preservation: {ENUM}"),
        "max_workers: Int32".into(),
        "supports_batch_index: Boolean NN".into(),
        "supports_splits: Boolean NN".into(),
        "filters_exactly_applied: Boolean NN".into(),
        "supports_positions: Boolean NN".into(),
        "split_token_ttl_seconds: Int64".into(),
        format!("partition_kind: {ENUM} NN"),
        format!("order_dependent: {ENUM} NN"),
        format!("distinct_dependent: {ENUM} NN"),
        "supports_window: Boolean NN".into(),
        "streaming_partitioned: Boolean NN".into(),
        "has_finalize: Boolean NN".into(),
        "source_order_dependent: Boolean NN".into(),
        "sink_order_dependent: Boolean NN".into(),
        "requires_input_batch_index: Boolean NN".into(),
        "input_from_args: Boolean NN".into(),
        "input_rows_per_call: Int64".into(),
        format!("required_settings: {UTF8_LIST} NN"),
        "required_secrets: List(Struct(\"secret_type\": non-null Utf8, \"scope\": Utf8, \"secret_name\": Utf8)) NN".into(),
    ];
    let names: Vec<String> = infos
        .iter()
        .map(|i| Record::new(i, "info").unwrap().str("name").unwrap())
        .collect();
    for (info, name) in infos.iter().zip(&names) {
        expect(&info.schema(), &function_info, name);
        let record = Record::new(info, "info").unwrap();
        assert_eq!(record.strings("schema_path").unwrap(), ["main"]);
        assert_eq!(
            record.opt_enum("function_type").unwrap().as_deref(),
            Some("TABLE_BUFFERING")
        );
        assert_eq!(record.opt_bool("has_finalize").unwrap(), Some(true));
        let order = record.opt_enum("order_preservation").unwrap();
        assert!(
            matches!(order.as_deref(), Some("NO_ORDER_GUARANTEE" | "FIXED_ORDER")),
            "{name}: {order:?}"
        );
    }
    for expected in [
        "buffer_input",
        "sum_all_columns",
        "buffer_emit_wide",
        "bind_nonce",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    let info = |name: &str| {
        Record::new(&infos[names.iter().position(|n| n == name).unwrap()], "i")
            .unwrap()
            .bytes("arguments")
            .map(|b| schema_from_ipc(&b).unwrap())
            .unwrap()
    };
    let arguments = info("buffer_input");
    assert_eq!(arguments.field(0).name(), "data");
    assert_eq!(
        arguments
            .field(0)
            .metadata()
            .get("vgi_type")
            .map(String::as_str),
        Some("table")
    );
    let arguments = info("sum_all_columns");
    assert_eq!(arguments.field(1).name(), "logging");
    assert_eq!(
        arguments
            .field(1)
            .metadata()
            .get("vgi_arg")
            .map(String::as_str),
        Some("named")
    );
}

#[test]
fn a_query_runs_across_worker_processes_and_cleans_up_without_destructor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w1 = worker(tmp.path());
    let mut w2 = worker(tmp.path());

    let request = bind_request("buffer_input", &args(vec![]));
    let response = call(&mut w1, methods::BIND, request).unwrap();
    expect(
        &response.schema(),
        &[
            "output_schema: Binary NN".into(),
            "opaque_data: Binary".into(),
            format!("lookup_secret_types: {UTF8_LIST} NN"),
            format!("lookup_scopes: {UTF8_LIST} NN"),
            format!("lookup_names: {UTF8_LIST} NN"),
            format!("projection_expression_profiles: {UTF8_LIST} NN"),
            format!("repeatability: {ENUM} NN"),
        ],
        "BindResponse",
    );
    let record = Record::new(&response, "bind").unwrap();
    assert_eq!(
        record.opt_enum("repeatability").unwrap().as_deref(),
        Some("UNKNOWN")
    );
    let bound = bind(&mut w1, "buffer_input", &args(vec![])).unwrap();
    assert_eq!(
        schema_from_ipc(&bound.output_schema).unwrap(),
        input_schema()
    );

    // Sink init mints the execution id; a peer init joins it.
    let (exec, rows) = init(&mut w1, init_request(&bound, phases::SINK, None, None)).unwrap();
    assert!(rows.is_empty());
    let (joined, _) = init(
        &mut w2,
        init_request(&bound, phases::SINK, Some(&exec), None),
    )
    .unwrap();
    assert_eq!(joined, exec);

    // process alternates between the two processes.
    let mut state_ids = Vec::new();
    for i in 0..4 {
        let worker = if i % 2 == 0 { &mut w1 } else { &mut w2 };
        state_ids
            .push(process(worker, "buffer_input", &exec, &input(i * 1000, 1000), None).unwrap());
    }
    let finalize_ids = combine(&mut w2, "buffer_input", &exec, &state_ids).unwrap();
    assert!(finalize_ids.len() > 1, "{}", finalize_ids.len());

    // Finalize in both processes, projecting column `a`; the state stays
    // until the last finalize id has been streamed to its end.
    let mut values = Vec::new();
    for (k, id) in finalize_ids.iter().enumerate() {
        assert_eq!(executions(tmp.path()), 1, "before finalize id {k}");
        let request = init_request(&bound, phases::FINALIZE, Some(&exec), Some(id)).set(
            "projection_ids",
            Arc::new(
                arrow_array::ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![
                    Some(0),
                ])]),
            ) as ArrayRef,
        );
        let worker = if k % 2 == 0 { &mut w1 } else { &mut w2 };
        let (_, batches) = init(worker, request).unwrap();
        assert!(batches.iter().all(|b| b.num_columns() == 1));
        values.extend(int64s(&batches, 0));
    }
    values.sort_unstable();
    assert_eq!(values, (0..4000).collect::<Vec<i64>>());
    assert_eq!(
        executions(tmp.path()),
        0,
        "every finalize id streamed: the state is gone without a destructor"
    );
    let err = process(&mut w1, "buffer_input", &exec, &input(0, 1), None).unwrap_err();
    assert!(err.contains("unknown execution"), "{err}");
}

#[test]
fn the_destructor_removes_an_unfinished_execution_and_answers_no_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    let bound = bind(&mut w, "buffer_input", &args(vec![])).unwrap();
    let (exec, _) = init(&mut w, init_request(&bound, phases::SINK, None, None)).unwrap();
    process(&mut w, "buffer_input", &exec, &input(0, 10), None).unwrap();
    assert_eq!(executions(tmp.path()), 1);
    let answer = destructor(&mut w, "buffer_input", &exec);
    assert_eq!((answer.num_columns(), answer.num_rows()), (0, 0));
    assert_eq!(executions(tmp.path()), 0);
    // A second destructor, for an execution that is gone, is harmless.
    destructor(&mut w, "buffer_input", &exec);
}

#[test]
fn an_idle_execution_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = client(
        tmp.path(),
        &["--idle-execution-seconds", "1"],
        "vgi.v3",
        "3.0.0",
    );
    let bound = bind(&mut w, "buffer_input", &args(vec![])).unwrap();
    let (exec, _) = init(&mut w, init_request(&bound, phases::SINK, None, None)).unwrap();
    process(&mut w, "buffer_input", &exec, &input(0, 10), None).unwrap();
    // Calls keep it alive.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(300));
        process(&mut w, "buffer_input", &exec, &input(0, 10), None).unwrap();
    }
    assert_eq!(executions(tmp.path()), 1);
    let start = Instant::now();
    while executions(tmp.path()) > 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never removed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "removed too early"
    );
    let err = process(&mut w, "buffer_input", &exec, &input(0, 1), None).unwrap_err();
    assert!(err.contains("unknown execution"), "{err}");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_vgi-test-worker"))
        .args(["--idle-execution-seconds", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected N >= 1, got 0"));
}

#[test]
fn every_phase_sees_the_opaque_data_of_the_clients_bind() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w1 = worker(tmp.path());
    let mut w2 = worker(tmp.path());
    let bound = bind(&mut w1, "bind_nonce", &args(vec![])).unwrap();
    let nonce = bound
        .opaque_data
        .clone()
        .expect("bind_nonce has opaque data");
    let again = bind(&mut w2, "bind_nonce", &args(vec![])).unwrap();
    assert_ne!(
        again.opaque_data.as_ref(),
        Some(&nonce),
        "each bind draws anew"
    );

    let (exec, _) = init(&mut w2, init_request(&bound, phases::SINK, None, None)).unwrap();
    let states = vec![
        process(&mut w1, "bind_nonce", &exec, &input(0, 3), None).unwrap(),
        process(&mut w2, "bind_nonce", &exec, &input(3, 3), None).unwrap(),
    ];
    assert!(states.iter().all(|s| *s == nonce));
    let ids = combine(&mut w1, "bind_nonce", &exec, &states).unwrap();
    let (_, batches) = init(
        &mut w2,
        init_request(&bound, phases::FINALIZE, Some(&exec), Some(&ids[0])),
    )
    .unwrap();
    assert_eq!(
        batches[0].column(0).as_string::<i32>().value(0).as_bytes(),
        nonce
    );
}

#[test]
fn arguments_come_in_the_args_struct() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    let one = [(input(0, 1), None)];

    // A positional argument (sent as INTEGER, cast to the declared BIGINT),
    // and wide emits: one batch far larger than a DuckDB vector.
    let rows_arg = |n: i32| {
        args(vec![(
            "positional_0",
            Arc::new(Int32Array::from(vec![n])) as ArrayRef,
        )])
    };
    let out = query(&mut w, "buffer_emit_wide", &rows_arg(100_000), &one).unwrap();
    assert_eq!(rows(&out), 100_000);
    assert_eq!(int64s(&out, 0).last(), Some(&99_999));

    // Constraints and NULLs are checked with the SDK's messages.
    let err = bind(&mut w, "buffer_emit_wide", &rows_arg(-1))
        .err()
        .unwrap();
    assert!(
        err.contains("argument 'rows' must be >= 0, got -1"),
        "{err}"
    );
    let err = bind(&mut w, "buffer_emit_wide", &args(vec![]))
        .err()
        .unwrap();
    assert!(err.contains("argument rows must not be NULL"), "{err}");
    let phase = |p: &str| {
        args(vec![(
            "positional_0",
            Arc::new(StringArray::from(vec![p])) as ArrayRef,
        )])
    };
    let err = bind(&mut w, "panic_in_phase", &phase("nope"))
        .err()
        .unwrap();
    assert!(
        err.contains(
            "argument 'phase' must be one of 'bind', 'process', 'combine', 'finalize', got 'nope'"
        ),
        "{err}"
    );
    let err = bind(&mut w, "buffer_input", &phase("x")).err().unwrap();
    assert!(err.contains("no positional argument 0"), "{err}");

    // A named argument, given or left to its default.
    let logging = args(vec![(
        "named_logging",
        Arc::new(BooleanArray::from(vec![true])) as ArrayRef,
    )]);
    let ten = [(input(0, 10), None)];
    for arguments in [logging, args(vec![])] {
        let out = query(&mut w, "sum_all_columns", &arguments, &ten).unwrap();
        assert_eq!(out[0].schema().field(0).name(), "a");
        assert_eq!(int64s(&out, 0), [45]);
    }
    let err = bind(
        &mut w,
        "sum_all_columns",
        &args(vec![(
            "named_nope",
            Arc::new(BooleanArray::from(vec![true])) as ArrayRef,
        )]),
    )
    .err()
    .unwrap();
    assert!(err.contains("unknown named argument nope"), "{err}");
}

#[test]
fn batch_index_projection_and_large_state() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    // Batches arrive out of order; the output follows their batch index.
    let inputs: Vec<_> = [2i64, 0, 1]
        .iter()
        .map(|&k| (input(k * 10, 10), Some(k)))
        .collect();
    let out = query(&mut w, "batch_index_buffer_input", &args(vec![]), &inputs).unwrap();
    assert_eq!(int64s(&out, 0), (0..30).collect::<Vec<_>>());
    let err = query(
        &mut w,
        "batch_index_buffer_input",
        &args(vec![]),
        &[(input(0, 1), None)],
    )
    .unwrap_err();
    assert!(
        err.contains("batch_index_buffer_input: DuckDB gave no batch index"),
        "{err}"
    );

    // 1 MiB of state per batch (the failed query above left its state).
    let before = executions(tmp.path());
    let inputs: Vec<_> = (0..3).map(|k| (input(k, 1), None)).collect();
    let out = query(&mut w, "large_state", &args(vec![]), &inputs).unwrap();
    assert_eq!(int64s(&out, 0), [3 << 20]);
    assert_eq!(executions(tmp.path()), before, "read to its end: removed");
}

#[test]
fn errors_in_every_phase_carry_the_functions_message() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    let err = bind(&mut w, "no_such_function", &args(vec![]))
        .err()
        .unwrap();
    assert!(err.contains("no function named no_such_function"), "{err}");
    let err = process(
        &mut w,
        "buffer_input",
        b"0123456789abcdef",
        &input(0, 10),
        None,
    )
    .unwrap_err();
    assert!(err.contains("unknown execution 30313233"), "{err}");

    let two = [(input(0, 10), None), (input(10, 10), None)];
    let err = query(&mut w, "exception_process", &args(vec![]), &two).unwrap_err();
    assert!(
        err.contains("Intentional exception during process()"),
        "{err}"
    );
    let err = query(&mut w, "crash_on_combine", &args(vec![]), &two).unwrap_err();
    assert!(
        err.contains("Intentional exception during combine()"),
        "{err}"
    );
    let err = query(&mut w, "exception_finalize", &args(vec![]), &two).unwrap_err();
    assert!(
        err.contains("Intentional exception during finalize()"),
        "{err}"
    );
    // A client opens a new connection after a failed init (vgi-rpc drains
    // one input stream after it): so does this test.
    let mut w = worker(tmp.path());
    for phase in ["bind", "process", "combine", "finalize"] {
        let arguments = args(vec![(
            "positional_0",
            Arc::new(StringArray::from(vec![phase])) as ArrayRef,
        )]);
        let err = query(&mut w, "panic_in_phase", &arguments, &two).unwrap_err();
        assert!(
            err.contains(&format!("panicked: intentional panic in {phase}")),
            "{phase}: {err}"
        );
        if phase == "finalize" {
            w = worker(tmp.path());
        }
    }

    // The same worker still serves a whole query.
    let out = query(&mut w, "buffer_input", &args(vec![]), &two).unwrap();
    assert_eq!(rows(&out), 20);
    assert!(out[0]
        .column(1)
        .as_string::<i32>()
        .value(0)
        .starts_with("row "));
}

#[test]
fn other_versions_are_refused_with_the_protocols_message() {
    let tmp = tempfile::tempdir().unwrap();
    let attach = || Row::new(schemas::catalog_attach_request()).str("name", "vgi");

    let mut v2 = client(tmp.path(), &[], "vgi.v2", "2.0.0");
    let err = call(&mut v2, methods::CATALOG_ATTACH, attach()).unwrap_err();
    assert_eq!(
        err,
        "ProtocolError: This server does not host protocol \"vgi.v2\". \
         Hosted: [\"vgi.v3\", \"vgi_rpc.Reflection.v1\"]."
    );

    let mut newer = client(tmp.path(), &[], "vgi.v3", "3.1.0");
    let err = call(&mut newer, methods::CATALOG_ATTACH, attach()).unwrap_err();
    assert_eq!(
        err,
        "VersionError: protocol_version mismatch for protocol \"vgi.v3\".\n  \
         Client: 3.1.0\n  Server: 3.0.0\n  \
         Direction: server is too old; upgrade the server to a version supporting \
         protocol_version 3.1.0."
    );

    // Only major.minor must match.
    let mut patch = client(tmp.path(), &[], "vgi.v3", "3.0.7");
    let attached = call(&mut patch, methods::CATALOG_ATTACH, attach()).unwrap();
    assert_eq!(
        Record::new(&attached, "attach")
            .unwrap()
            .str("default_schema")
            .unwrap(),
        "main"
    );
}

/// A process request whose input batch is in `segment` (vgi's own side
/// channel, `vgi::protocol::shm`).
fn process_shared(
    client: &mut RpcClient,
    exec: &[u8],
    segment: &mut Segment,
    batch: &RecordBatch,
) -> Result<Vec<u8>, vgi_rpc_client::RpcError> {
    let slot = segment.write_batch(batch).unwrap().expect("fits");
    let metadata = [
        (shm::SEGMENT_KEY.to_string(), segment.name().to_string()),
        (shm::INPUT_KEY.to_string(), slot.to_metadata()),
    ]
    .into();
    let request = Row::new(schemas::process_request())
        .str("function_name", "buffer_input")
        .bytes("execution_id", exec)
        .bytes("input_batch", &[]);
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let (result, _) = client.call_unary(methods::PROCESS, &params, Some(&metadata))?;
    let result = unwrap(&result, "result").unwrap();
    Ok(Record::new(&result, "process")
        .unwrap()
        .bytes("state_id")
        .unwrap())
}

#[test]
fn batches_cross_in_the_clients_shared_memory_when_it_names_a_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(tmp.path());
    let mut segment = Segment::create(1 << 20).unwrap();
    let bound = bind(&mut w, "buffer_input", &args(vec![])).unwrap();
    let (exec, _) = init(&mut w, init_request(&bound, phases::SINK, None, None)).unwrap();
    let mut state_ids = Vec::new();
    for k in 0..3 {
        state_ids.push(process_shared(&mut w, &exec, &mut segment, &input(k * 100, 100)).unwrap());
    }
    // The worker keeps its mapping once the name is gone.
    segment.unlink().unwrap();
    state_ids.push(process_shared(&mut w, &exec, &mut segment, &input(300, 100)).unwrap());
    let ids = combine(&mut w, "buffer_input", &exec, &state_ids).unwrap();

    let naming = [(shm::SEGMENT_KEY.to_string(), segment.name().to_string())].into();
    let mut values = Vec::new();
    for id in &ids {
        let request = init_request(&bound, phases::FINALIZE, Some(&exec), Some(id));
        let params = wrap_request(request.to_ipc().unwrap()).unwrap();
        let mut session = w
            .open_producer(methods::INIT, &params, Some(&naming), true)
            .unwrap();
        while let Some((pointer, metadata)) = session.tick().unwrap() {
            assert_eq!(pointer.num_rows(), 0, "a batch came inline");
            let slot = shm::Slot::parse(&metadata[shm::BATCH_KEY]).unwrap();
            let batches = segment.read_batches(slot).unwrap();
            assert_eq!(batches.len(), 1);
            assert_eq!(batches[0].schema(), input_schema());
            values.extend(int64s(&batches, 0));
        }
        session.close().unwrap();
    }
    values.sort_unstable();
    assert_eq!(values, (0..400).collect::<Vec<i64>>());
    assert_eq!(executions(tmp.path()), 0);

    // A segment the worker cannot map: refused as such, before anything ran.
    let bound = bind(&mut w, "buffer_input", &args(vec![])).unwrap();
    let (exec, _) = init(&mut w, init_request(&bound, phases::SINK, None, None)).unwrap();
    let metadata = [
        (
            shm::SEGMENT_KEY.to_string(),
            format!("vgi-shm-{}", "0".repeat(32)),
        ),
        (shm::INPUT_KEY.to_string(), "0:10".to_string()),
    ]
    .into();
    let request = Row::new(schemas::process_request())
        .str("function_name", "buffer_input")
        .bytes("execution_id", &exec)
        .bytes("input_batch", &[]);
    let params = wrap_request(request.to_ipc().unwrap()).unwrap();
    let err = w
        .call_unary(methods::PROCESS, &params, Some(&metadata))
        .unwrap_err();
    assert_eq!(err.error_type, shm::REFUSED, "{err}");
    assert!(err.message.contains("/dev/shm/vgi-shm-"), "{err}");
    // The same call inline still works on that connection.
    process(&mut w, "buffer_input", &exec, &input(0, 1), None).unwrap();
    destructor(&mut w, "buffer_input", &exec);
}
