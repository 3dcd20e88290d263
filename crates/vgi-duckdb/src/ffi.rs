//! The Rust half of the C ABI declared in `cpp/vgi_ffi.h`: a table of
//! function pointers handed to C++ at load time. Types and functions take
//! the header's names (see its naming note): each function here is the
//! field of `VgiApi` it fills, and the opaque handles are aliases
//! (`VgiExecution` is an [`Execution`], ...).
//!
//! (Over 600 lines: the table's 40-odd entry points, each a few lines that
//! catch errors and panics, stay beside the table they fill; the tests are in
//! `ffi_tests.rs` and `ffi_cpp_tests.rs`.)

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::{
    new_null_array, Array, ArrayRef, Float64Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema};

use super::arrow_ffi::{export_batch, export_schema, import_batch, read_batch, read_schema};
use super::execution::{BoundCall, Execution, LogLine, Producer};
use super::guard::{guarded, quietly, vgi_error_free};
use super::in_place::{InPlace, VgiColumn};
use super::registry::{RegisteredFunction, Registry};
use vgi::sdk::{ArgSpec, ArgType, Arguments, Error, Interrupt, Settings};
use vgi::store::Orphan;
use vgi::Result;

/// A borrowed UTF-8 string.
#[repr(C)]
pub(crate) struct VgiStr {
    ptr: *const c_char,
    len: usize,
}

impl VgiStr {
    fn new(s: &str) -> Self {
        VgiStr {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }
}

const SINK_ORDER_DEPENDENT: u32 = 1 << 0;
const SOURCE_ORDER_DEPENDENT: u32 = 1 << 1;
const REQUIRES_INPUT_BATCH_INDEX: u32 = 1 << 2;
const PROJECTION_PUSHDOWN: u32 = 1 << 3;

/// `function_bind` and `bound_call_start` flags (`VgiExecutionFlags`): record
/// lifecycle events (DuckDB logs at DEBUG level; `bound_call_start` only).
const EXECUTION_DEBUG_LOGS: u32 = 1 << 0;
/// `function_bind` and `bound_call_start` flags: DuckDB's `enable_external_access` is false.
const EXECUTION_NO_EXTERNAL_ACCESS: u32 = 1 << 1;

const PARAM_TABLE: u32 = 0;
const PARAM_POSITIONAL: u32 = 1;
const PARAM_NAMED: u32 = 2;
const PARAM_VARARGS: u32 = 3;

/// The opaque handles of `cpp/vgi_ffi.h`, under the header's names: each is
/// the Rust type behind the pointer C++ holds (see the header's naming note).
pub(crate) type VgiRegistry = Registry;
type VgiFunction = RegisteredFunction;
type VgiBoundCall = Arc<BoundCall>;
type VgiExecution = Execution;
type VgiProducer = Producer;
type VgiInPlace = InPlace;

/// Asks DuckDB whether the query of `context` was interrupted (non-zero: yes).
type InterruptProbe = unsafe extern "C" fn(context: *mut c_void) -> c_int;

/// The C++ side's interrupt probe, callable from any thread while the query runs.
struct Probe {
    context: *mut c_void,
    probe: InterruptProbe,
}

// SAFETY: the probe only reads the ClientContext's interrupted flag, which
// DuckDB makes safe to read from any thread. The context outlives the
// execution, and the execution detaches the probe from its `Interrupt` when
// it is dropped (execution_end), so clones a function kept never reach it.
unsafe impl Send for Probe {}
// SAFETY: as above.
unsafe impl Sync for Probe {}

impl Probe {
    fn interrupted(&self) -> bool {
        // SAFETY: see the Send impl.
        unsafe { (self.probe)(self.context) != 0 }
    }
}
type Err = *mut *mut c_char;

/// The version of the C ABI this side implements: `VGI_FFI_VERSION` in
/// `cpp/vgi_ffi.h` (raise both with any change to the table or what it passes).
pub(crate) const VGI_FFI_VERSION: u32 = 3;

/// Mirrors `struct VgiApi` in `cpp/vgi_ffi.h`, field for field.
#[repr(C)]
#[cfg_attr(test, derive(Clone, Copy))]
pub(crate) struct VgiApi {
    /// [`VGI_FFI_VERSION`]; C++ refuses the table at LOAD unless it and
    /// `size` are the ones it was built for (both first in every version).
    version: u32,
    /// `size_of::<VgiApi>()`.
    size: usize,
    registry_len: unsafe extern "C" fn(*const VgiRegistry) -> usize,
    registry_get: unsafe extern "C" fn(*const VgiRegistry, usize) -> *const VgiFunction,
    registry_free: unsafe extern "C" fn(*mut VgiRegistry),
    registry_setting_count: unsafe extern "C" fn(*const VgiRegistry) -> usize,
    registry_setting_name: unsafe extern "C" fn(*const VgiRegistry, usize) -> VgiStr,
    registry_setting_description: unsafe extern "C" fn(*const VgiRegistry, usize) -> VgiStr,
    registry_setting_defaults: unsafe extern "C" fn(
        *const VgiRegistry,
        *mut FFI_ArrowSchema,
        *mut FFI_ArrowArray,
        Err,
    ) -> c_int,
    error_free: unsafe extern "C" fn(*mut c_char),
    registry_store_gc: unsafe extern "C" fn(
        *const VgiRegistry,
        i64,
        *mut FFI_ArrowSchema,
        *mut FFI_ArrowArray,
        Err,
    ) -> c_int,
    function_name: unsafe extern "C" fn(*const VgiFunction) -> VgiStr,
    function_description: unsafe extern "C" fn(*const VgiFunction) -> VgiStr,
    function_example_count: unsafe extern "C" fn(*const VgiFunction) -> usize,
    function_example: unsafe extern "C" fn(*const VgiFunction, usize) -> VgiStr,
    function_flags: unsafe extern "C" fn(*const VgiFunction) -> u32,
    function_param_count: unsafe extern "C" fn(*const VgiFunction) -> usize,
    function_param_name: unsafe extern "C" fn(*const VgiFunction, usize) -> VgiStr,
    function_param_kind: unsafe extern "C" fn(*const VgiFunction, usize) -> u32,
    function_param_schema: unsafe extern "C" fn(
        *const VgiFunction,
        *mut FFI_ArrowSchema,
        *mut FFI_ArrowArray,
        Err,
    ) -> c_int,
    function_bind: unsafe extern "C" fn(
        *const VgiFunction,
        u32,
        *mut FFI_ArrowSchema,
        *mut FFI_ArrowSchema,
        *mut FFI_ArrowArray,
        *mut FFI_ArrowSchema,
        *mut FFI_ArrowArray,
        *mut FFI_ArrowSchema,
        Err,
    ) -> *mut VgiBoundCall,
    bound_call_free: unsafe extern "C" fn(*mut VgiBoundCall),
    bound_call_memory_budget: unsafe extern "C" fn(*const VgiBoundCall) -> usize,
    bound_call_start: unsafe extern "C" fn(
        *const VgiBoundCall,
        u32,
        *mut c_void,
        Option<InterruptProbe>,
        *const usize,
        usize,
        Err,
    ) -> *mut VgiExecution,
    execution_process:
        unsafe extern "C" fn(*mut VgiExecution, *mut FFI_ArrowArray, i64, Err) -> c_int,
    execution_combine: unsafe extern "C" fn(*mut VgiExecution, *mut usize, Err) -> c_int,
    execution_finalize: unsafe extern "C" fn(*mut VgiExecution, usize, Err) -> *mut VgiProducer,
    execution_end: unsafe extern "C" fn(*mut VgiExecution),
    execution_in_place_start:
        unsafe extern "C" fn(*mut VgiExecution, *mut *mut VgiInPlace, Err) -> c_int,
    execution_in_place_sink: unsafe extern "C" fn(
        *mut VgiExecution,
        *mut VgiInPlace,
        *const VgiColumn,
        usize,
        usize,
        Err,
    ) -> c_int,
    execution_in_place_finish:
        unsafe extern "C" fn(*mut VgiExecution, *mut VgiInPlace, Err) -> c_int,
    in_place_free: unsafe extern "C" fn(*mut VgiInPlace),
    execution_next_log: unsafe extern "C" fn(*mut VgiExecution, *mut c_int) -> *mut c_char,
    producer_next: unsafe extern "C" fn(*mut VgiProducer, *mut FFI_ArrowArray, Err) -> c_int,
    producer_free: unsafe extern "C" fn(*mut VgiProducer),
}

pub(crate) static API: VgiApi = VgiApi {
    version: VGI_FFI_VERSION,
    size: std::mem::size_of::<VgiApi>(),
    registry_len,
    registry_get,
    registry_free,
    registry_setting_count,
    registry_setting_name,
    registry_setting_description,
    registry_setting_defaults,
    error_free: vgi_error_free,
    registry_store_gc,
    function_name,
    function_description,
    function_example_count,
    function_example,
    function_flags,
    function_param_count,
    function_param_name,
    function_param_kind,
    function_param_schema,
    function_bind,
    bound_call_free,
    bound_call_memory_budget,
    bound_call_start,
    execution_process,
    execution_combine,
    execution_finalize,
    execution_end,
    execution_in_place_start,
    execution_in_place_sink,
    execution_in_place_finish,
    in_place_free,
    execution_next_log,
    producer_next,
    producer_free,
};

// The registry crosses as an opaque pointer that C++ only hands back.
#[allow(improper_ctypes)]
extern "C-unwind" {
    /// Registers the functions with DuckDB (C++, `cpp/vgi_register.cpp`).
    pub(crate) fn vgi_bridge_init(
        loader: *mut c_void,
        api: *const VgiApi,
        registry: *mut VgiRegistry,
        load_error: *const c_char,
    );
}

fn status(ok: Option<()>) -> c_int {
    if ok.is_some() {
        0
    } else {
        -1
    }
}

fn into_raw<T>(value: Option<T>) -> *mut T {
    value.map_or(std::ptr::null_mut(), |v| Box::into_raw(Box::new(v)))
}

unsafe extern "C" fn registry_len(registry: *const VgiRegistry) -> usize {
    // SAFETY: C++ passes the registry it was given at init.
    unsafe { &*registry }.functions.len()
}

unsafe extern "C" fn registry_get(
    registry: *const VgiRegistry,
    index: usize,
) -> *const VgiFunction {
    // SAFETY: C++ passes the registry it was given at init, and an index below its length.
    Arc::as_ptr(&unsafe { &*registry }.functions[index])
}

/// Frees a registry C++ was given at init, once the database that loaded
/// it closes (bound calls still running keep their functions alive).
unsafe extern "C" fn registry_free(registry: *mut VgiRegistry) {
    if !registry.is_null() {
        // SAFETY: produced by Box::into_raw in init_extension, freed once by C++.
        quietly(|| drop(unsafe { Box::from_raw(registry) }));
    }
}

/// Removes orphaned state older than `ttl_seconds`; reports it as a batch
/// (execution_id VARCHAR, age_seconds DOUBLE, bytes BIGINT, error VARCHAR:
/// why it could not be removed, NULL when it was).
unsafe extern "C" fn registry_store_gc(
    registry: *const VgiRegistry,
    ttl_seconds: i64,
    out_schema: *mut FFI_ArrowSchema,
    out: *mut FFI_ArrowArray,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes the registry it was given at init.
        let registry = unsafe { &*registry };
        let store = registry
            .store()
            .ok_or_else(|| Error::InvalidArgument("the buffering store is not open".into()))?;
        let ttl = Duration::from_secs(u64::try_from(ttl_seconds).map_err(|_| {
            Error::InvalidArgument(format!("the time to live must be >= 0, got {ttl_seconds}"))
        })?);
        let batch = orphans_batch(&store.collect_orphans(ttl)?)?;
        // SAFETY: C++ passes writable, uninitialised out structs.
        unsafe {
            export_schema(&batch.schema(), out_schema)?;
            export_batch(batch, out);
        }
        Ok(())
    }))
}

fn orphans_batch(orphans: &[Orphan]) -> Result<RecordBatch> {
    let ids = StringArray::from_iter_values(orphans.iter().map(|o| o.execution_id.as_str()));
    let ages = Float64Array::from_iter_values(orphans.iter().map(|o| o.age.as_secs_f64()));
    let bytes = Int64Array::from_iter_values(
        orphans
            .iter()
            .map(|o| i64::try_from(o.bytes).unwrap_or(i64::MAX)),
    );
    let errors = StringArray::from_iter(orphans.iter().map(|o| o.error.as_deref()));
    Ok(RecordBatch::try_from_iter([
        ("execution_id", Arc::new(ids) as ArrayRef),
        ("age_seconds", Arc::new(ages)),
        ("bytes", Arc::new(bytes)),
        ("error", Arc::new(errors)),
    ])?)
}

unsafe extern "C" fn registry_setting_count(registry: *const VgiRegistry) -> usize {
    // SAFETY: C++ passes the registry it was given at init.
    unsafe { &*registry }.settings.len()
}

unsafe extern "C" fn registry_setting_name(registry: *const VgiRegistry, index: usize) -> VgiStr {
    // SAFETY: as above, with an index below registry_setting_count.
    VgiStr::new(&unsafe { &*registry }.settings[index].name)
}

unsafe extern "C" fn registry_setting_description(
    registry: *const VgiRegistry,
    index: usize,
) -> VgiStr {
    // SAFETY: as above, with an index below registry_setting_count.
    VgiStr::new(&unsafe { &*registry }.settings[index].description)
}

/// One field per setting, and a one-row batch of their defaults.
unsafe extern "C" fn registry_setting_defaults(
    registry: *const VgiRegistry,
    out: *mut FFI_ArrowSchema,
    out_defaults: *mut FFI_ArrowArray,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes the registry it was given at init.
        let settings = &unsafe { &*registry }.settings;
        let fields: Vec<Field> = settings
            .iter()
            .map(|s| Field::new(&s.name, s.default.data_type().clone(), true))
            .collect();
        let columns = settings.iter().map(|s| s.default.slice(0, 1)).collect();
        // One row even when there is no setting (and so no column).
        let options = RecordBatchOptions::new().with_row_count(Some(1));
        let defaults =
            RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)?;
        // SAFETY: C++ passes writable, uninitialised out structs.
        unsafe {
            export_schema(&defaults.schema(), out)?;
            export_batch(defaults, out_defaults);
        }
        Ok(())
    }))
}

/// The settings row C++ passes at bind: one VARCHAR column per setting.
unsafe extern "C" fn function_name(f: *const VgiFunction) -> VgiStr {
    // SAFETY: `f` comes from registry_get; its registry outlives DuckDB's use of it.
    VgiStr::new(&unsafe { &*f }.name)
}

unsafe extern "C" fn function_description(f: *const VgiFunction) -> VgiStr {
    // SAFETY: as in function_name.
    VgiStr::new(&unsafe { &*f }.metadata.description)
}

unsafe extern "C" fn function_example_count(f: *const VgiFunction) -> usize {
    // SAFETY: as in function_name.
    unsafe { &*f }.metadata.examples.len()
}

unsafe extern "C" fn function_example(f: *const VgiFunction, index: usize) -> VgiStr {
    // SAFETY: as in function_name; C++ passes an index below function_example_count.
    VgiStr::new(&unsafe { &*f }.metadata.examples[index])
}

unsafe extern "C" fn function_flags(f: *const VgiFunction) -> u32 {
    // SAFETY: as in function_name.
    let m = &unsafe { &*f }.metadata;
    [
        (m.sink_order_dependent, SINK_ORDER_DEPENDENT),
        (m.source_order_dependent, SOURCE_ORDER_DEPENDENT),
        (m.requires_input_batch_index, REQUIRES_INPUT_BATCH_INDEX),
        (m.projection_pushdown, PROJECTION_PUSHDOWN),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0, |flags, (_, flag)| flags | flag)
}

unsafe extern "C" fn function_param_count(f: *const VgiFunction) -> usize {
    // SAFETY: as in function_name.
    unsafe { &*f }.params.len()
}

unsafe extern "C" fn function_param_name(f: *const VgiFunction, index: usize) -> VgiStr {
    // SAFETY: as in function_name; C++ passes an index below function_param_count.
    VgiStr::new(&unsafe { &*f }.params[index].name)
}

fn param_kind(spec: &ArgSpec) -> u32 {
    match spec.data_type {
        ArgType::Table => PARAM_TABLE,
        _ if spec.varargs => PARAM_VARARGS,
        _ if spec.named => PARAM_NAMED,
        _ => PARAM_POSITIONAL,
    }
}

unsafe extern "C" fn function_param_kind(f: *const VgiFunction, index: usize) -> u32 {
    // SAFETY: as in function_param_name.
    param_kind(&unsafe { &*f }.params[index])
}

fn param_type(spec: &ArgSpec) -> DataType {
    match &spec.data_type {
        ArgType::Table => DataType::Null,
        ArgType::Value(t) => t.clone(),
    }
}

/// One field per parameter, and a one-row batch of their defaults.
fn param_defaults(params: &[ArgSpec]) -> Result<RecordBatch> {
    let fields: Vec<Field> = params
        .iter()
        .map(|p| Field::new(&p.name, param_type(p), true))
        .collect();
    let columns: Vec<ArrayRef> = params
        .iter()
        .map(|p| match &p.default {
            Some(value) => arrow_cast_default(value, &param_type(p)),
            None => Ok(new_null_array(&param_type(p), 1)),
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn arrow_cast_default(value: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if value.data_type() == to {
        Ok(value.clone())
    } else {
        Ok(arrow_cast::cast(value, to)?)
    }
}

unsafe extern "C" fn function_param_schema(
    f: *const VgiFunction,
    out: *mut FFI_ArrowSchema,
    out_defaults: *mut FFI_ArrowArray,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: as in function_name.
        let defaults = param_defaults(&unsafe { &*f }.params)?;
        // SAFETY: C++ passes writable, uninitialised out structs.
        unsafe {
            export_schema(&defaults.schema(), out)?;
            export_batch(defaults, out_defaults);
        }
        Ok(())
    }))
}

unsafe extern "C" fn function_bind(
    f: *const VgiFunction,
    flags: u32,
    input_schema: *mut FFI_ArrowSchema,
    args_schema: *mut FFI_ArrowSchema,
    args: *mut FFI_ArrowArray,
    settings_schema: *mut FFI_ArrowSchema,
    settings: *mut FFI_ArrowArray,
    out_schema: *mut FFI_ArrowSchema,
    error: Err,
) -> *mut VgiBoundCall {
    // SAFETY: C++ moves in five valid structs: owned from here on, they are
    // released on every path, also when reading one of them fails.
    let (input_schema, args_schema, args, settings_schema, settings) = unsafe {
        (
            FFI_ArrowSchema::from_raw(input_schema),
            FFI_ArrowSchema::from_raw(args_schema),
            FFI_ArrowArray::from_raw(args),
            FFI_ArrowSchema::from_raw(settings_schema),
            FFI_ArrowArray::from_raw(settings),
        )
    };
    into_raw(guarded(error, || {
        let input_schema = read_schema(input_schema)?;
        let args_schema = read_schema(args_schema)?;
        // SAFETY: C++ exported the argument and settings rows with their schemas.
        let arguments = Arguments::from_batch(unsafe { read_batch(args, &args_schema) }?)?;
        let settings_schema = read_schema(settings_schema)?;
        let settings = Settings::from_row(&unsafe { read_batch(settings, &settings_schema) }?)?;
        // SAFETY: `f` comes from registry_get (Arc::as_ptr), and the registry
        // holding that Arc is alive while DuckDB binds: one more reference.
        let function = unsafe {
            Arc::increment_strong_count(f);
            Arc::from_raw(f)
        };
        let external_access = flags & EXECUTION_NO_EXTERNAL_ACCESS == 0;
        let call = BoundCall::bind(function, input_schema, arguments, settings, external_access)?;
        // SAFETY: C++ passes a writable, uninitialised schema.
        unsafe { export_schema(&call.output_schema, out_schema)? };
        Ok(Arc::new(call))
    }))
}

unsafe extern "C" fn bound_call_free(call: *mut VgiBoundCall) {
    if !call.is_null() {
        // SAFETY: produced by `function_bind`, freed once by C++.
        quietly(|| drop(unsafe { Box::from_raw(call) }));
    }
}

unsafe extern "C" fn bound_call_memory_budget(call: *const VgiBoundCall) -> usize {
    // SAFETY: C++ keeps the bound call alive while it uses it.
    unsafe { &*call }.memory_budget()
}

unsafe extern "C" fn bound_call_start(
    call: *const VgiBoundCall,
    flags: u32,
    context: *mut c_void,
    probe: Option<InterruptProbe>,
    projection: *const usize,
    projection_len: usize,
    error: Err,
) -> *mut VgiExecution {
    into_raw(guarded(error, || {
        let projection = (!projection.is_null()).then(|| {
            // SAFETY: C++ passes `projection_len` column indexes.
            unsafe { std::slice::from_raw_parts(projection, projection_len) }.to_vec()
        });
        let interrupt = match probe {
            Some(probe) => {
                let probe = Probe { context, probe };
                Interrupt::new(move || probe.interrupted())
            }
            None => Interrupt::default(),
        };
        // SAFETY: C++ keeps the bound call alive while it starts executions.
        let call = unsafe { &*call }.clone();
        Execution::start(
            call,
            interrupt,
            flags & EXECUTION_DEBUG_LOGS != 0,
            flags & EXECUTION_NO_EXTERNAL_ACCESS == 0,
            projection,
        )
    }))
}

/// Level of a log line handed to C++: 0 = DEBUG, 1 = INFO.
unsafe extern "C" fn execution_next_log(exec: *mut VgiExecution, level: *mut c_int) -> *mut c_char {
    let mut line = None;
    quietly(|| {
        // SAFETY: C++ passes a live execution.
        line = unsafe { &*exec }.next_log();
    });
    let (lvl, text) = match line {
        Some(LogLine::Debug(text)) => (0, text),
        Some(LogLine::Info(text)) => (1, text),
        None => return std::ptr::null_mut(),
    };
    // SAFETY: C++ passes a writable level.
    unsafe { *level = lvl };
    CString::new(text.replace('\0', " "))
        .expect("NUL bytes were replaced")
        .into_raw()
}

unsafe extern "C" fn execution_process(
    exec: *mut VgiExecution,
    batch: *mut FFI_ArrowArray,
    batch_index: i64,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes a live execution and moves in a batch of the input schema.
        let exec = unsafe { &*exec };
        let batch = unsafe { import_batch(batch, exec.input_schema()) }?;
        exec.process(&batch, (batch_index >= 0).then_some(batch_index))
    }))
}

unsafe extern "C" fn execution_combine(
    exec: *mut VgiExecution,
    count: *mut usize,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes a live execution and a writable count.
        unsafe { *count = (*exec).combine()? };
        Ok(())
    }))
}

unsafe extern "C" fn execution_finalize(
    exec: *mut VgiExecution,
    index: usize,
    error: Err,
) -> *mut VgiProducer {
    // SAFETY: C++ passes a live execution.
    into_raw(guarded(error, || unsafe { &*exec }.finalize(index)))
}

unsafe extern "C" fn execution_end(exec: *mut VgiExecution) {
    if exec.is_null() {
        return;
    }
    quietly(|| {
        // SAFETY: produced by bound_call_start, ended once by C++.
        let exec = unsafe { Box::from_raw(exec) };
        if let Err(e) = exec.end() {
            eprintln!("vgi: could not remove an execution's state: {e}");
        }
    });
}

unsafe extern "C" fn execution_in_place_start(
    exec: *mut VgiExecution,
    out: *mut *mut VgiInPlace,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes a live execution and a writable out pointer.
        let sink = unsafe { &*exec }.in_place_start()?;
        unsafe { *out = sink.map_or(std::ptr::null_mut(), |s| Box::into_raw(Box::new(s))) };
        Ok(())
    }))
}

unsafe extern "C" fn execution_in_place_sink(
    exec: *mut VgiExecution,
    sink: *mut VgiInPlace,
    columns: *const VgiColumn,
    column_count: usize,
    rows: usize,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes a live execution, the sink it started (used by
        // one thread at a time) and `column_count` columns of `rows` rows of
        // a chunk it keeps unchanged until this returns.
        let (exec, sink) = unsafe { (&*exec, &mut *sink) };
        let columns = unsafe { std::slice::from_raw_parts(columns, column_count) };
        unsafe { exec.in_place_sink(sink, columns, rows) }
    }))
}

unsafe extern "C" fn execution_in_place_finish(
    exec: *mut VgiExecution,
    sink: *mut VgiInPlace,
    error: Err,
) -> c_int {
    status(guarded(error, || {
        // SAFETY: C++ passes a live execution and hands over the sink it started.
        let (exec, sink) = unsafe { (&*exec, Box::from_raw(sink)) };
        exec.in_place_finish(*sink)
    }))
}

unsafe extern "C" fn in_place_free(sink: *mut VgiInPlace) {
    if sink.is_null() {
        return;
    }
    // SAFETY: started by execution_in_place_start, freed once by C++.
    quietly(|| drop(unsafe { Box::from_raw(sink) }));
}

unsafe extern "C" fn producer_next(
    producer: *mut VgiProducer,
    out: *mut FFI_ArrowArray,
    error: Err,
) -> c_int {
    let next = guarded(error, || {
        // SAFETY: C++ passes a live producer.
        unsafe { &mut *producer }.next_batch()
    });
    match next {
        Some(Some(batch)) => {
            // SAFETY: C++ passes a writable, uninitialised array.
            unsafe { export_batch(batch, out) };
            1
        }
        Some(None) => 0,
        None => -1,
    }
}

unsafe extern "C" fn producer_free(producer: *mut VgiProducer) {
    if !producer.is_null() {
        // SAFETY: produced by execution_finalize, freed once by C++.
        quietly(|| drop(unsafe { Box::from_raw(producer) }));
    }
}

#[cfg(test)]
#[path = "ffi_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "ffi_cpp_tests.rs"]
mod cpp_tests;
