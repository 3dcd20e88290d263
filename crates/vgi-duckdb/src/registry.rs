//! The functions one extension registers, with the descriptions DuckDB reads
//! at load time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::Int64Array;

use vgi::sdk::panic::panic_message;
use vgi::sdk::{ArgSpec, ArgType, FunctionMetadata, SettingSpec, TableBufferingFunction};
use vgi::store::BufferingStore;

/// A registered function with its description, computed once at load time.
pub(crate) struct RegisteredFunction {
    pub(crate) function: Box<dyn TableBufferingFunction>,
    pub(crate) name: String,
    pub(crate) metadata: FunctionMetadata,
    pub(crate) params: Vec<ArgSpec>,
    pub(crate) store: Result<Arc<BufferingStore>, String>,
}

/// The functions an extension registers with DuckDB, and the store they
/// share. Each database that loads the extension owns one (C++ frees it when
/// the database closes); bound calls keep the functions they use alive.
pub struct Registry {
    pub(crate) functions: Vec<Arc<RegisteredFunction>>,
    pub(crate) settings: Vec<SettingSpec>,
    store: Result<Arc<BufferingStore>, String>,
    load_error: Option<String>,
}

impl Registry {
    /// Describes `functions` and opens the default store.
    pub fn new(functions: Vec<Box<dyn TableBufferingFunction>>) -> Self {
        let store = BufferingStore::new()
            .map(Arc::new)
            .map_err(|e| format!("cannot open the buffering store: {e}"));
        Self::with_store(functions, store)
    }

    /// Describes `functions`, which will keep their state in `store`. A
    /// function whose `name()`, `metadata()` or `argument_specs()` panics is
    /// left out, and the panic becomes the registry's load error.
    pub fn with_store(
        functions: Vec<Box<dyn TableBufferingFunction>>,
        store: Result<Arc<BufferingStore>, String>,
    ) -> Self {
        let mut load_error = store.as_ref().err().cloned();
        let mut registered = Vec::new();
        for (position, function) in functions.into_iter().enumerate() {
            match describe(function, &store) {
                Ok(f) => registered.push(Arc::new(f)),
                Err(e) => {
                    load_error.get_or_insert(format!("function #{}: {e}", position + 1));
                }
            }
        }
        let load_error = load_error.or_else(|| validate(&registered).err());
        Registry {
            functions: registered,
            settings: bridge_settings(),
            store,
            load_error,
        }
    }

    /// The registry an extension's entry point builds from `functions` and
    /// `settings` (see [`export_extension!`](crate::export_extension)): a
    /// panic while they are made becomes the load error DuckDB reports.
    pub fn from_entry_point(
        functions: impl FnOnce() -> Vec<Box<dyn TableBufferingFunction>>,
        settings: impl FnOnce() -> Vec<SettingSpec>,
    ) -> Self {
        let made = catch_unwind(AssertUnwindSafe(|| (functions(), settings())));
        match made {
            Ok((functions, settings)) => Registry::new(functions).with_settings(settings),
            Err(panic) => {
                let mut registry = Registry::new(Vec::new());
                registry.load_error.get_or_insert(format!(
                    "making the functions and settings panicked: {}",
                    panic_message(&*panic)
                ));
                registry
            }
        }
    }

    /// Also registers `settings` with DuckDB (besides the bridge's own,
    /// `vgi_orphan_ttl_seconds`, `vgi_process_batch_rows` and `vgi_memory_budget`).
    pub fn with_settings(mut self, settings: Vec<SettingSpec>) -> Self {
        self.settings.extend(settings);
        self
    }

    /// The store the functions share, if it could be opened.
    pub(crate) fn store(&self) -> Option<&Arc<BufferingStore>> {
        self.store.as_ref().ok()
    }

    /// Why the extension cannot load, if it cannot.
    pub fn load_error(&self) -> Option<&str> {
        self.load_error.as_deref()
    }
}

/// Asks `function` for its description, catching a panic in any of the
/// author's methods (they run inside DuckDB's LOAD).
fn describe(
    function: Box<dyn TableBufferingFunction>,
    store: &Result<Arc<BufferingStore>, String>,
) -> Result<RegisteredFunction, String> {
    let call = |what: &str, f: &mut dyn FnMut()| {
        catch_unwind(AssertUnwindSafe(f))
            .map_err(|panic| format!("{what} panicked: {}", panic_message(&*panic)))
    };
    let mut name = String::new();
    call("name()", &mut || name = function.name().to_string())?;
    let mut metadata = None;
    call(&format!("{name}: metadata()"), &mut || {
        metadata = Some(function.metadata())
    })?;
    let mut params = Vec::new();
    call(&format!("{name}: argument_specs()"), &mut || {
        params = function.argument_specs()
    })?;
    Ok(RegisteredFunction {
        name,
        metadata: metadata.expect("set when metadata() returned"),
        params: signature_order(params),
        store: store.clone(),
        function,
    })
}

/// How old (in seconds) the state of a dead process must be before the
/// store's garbage collection removes it.
pub const ORPHAN_TTL_SETTING: &str = "vgi_orphan_ttl_seconds";

/// The default time to live of orphaned state: 24 hours.
pub const DEFAULT_ORPHAN_TTL_SECONDS: i64 = 24 * 60 * 60;

fn orphan_ttl_setting() -> SettingSpec {
    SettingSpec::new(
        ORPHAN_TTL_SETTING,
        "Seconds after which the state of an execution whose process died is removed \
         (when an extension loads, and by vgi_store_gc())",
        Arc::new(Int64Array::from(vec![DEFAULT_ORPHAN_TTL_SECONDS])),
    )
}

/// The settings of the bridge itself, registered by every extension on it.
fn bridge_settings() -> Vec<SettingSpec> {
    let settings = vec![
        orphan_ttl_setting(),
        process_batch_rows_setting(),
        memory_budget_setting(),
    ];
    #[cfg(feature = "subprocess")]
    let settings = settings.into_iter().chain(subprocess_settings()).collect();
    settings
}

#[cfg(feature = "subprocess")]
fn subprocess_settings() -> Vec<SettingSpec> {
    use super::subprocess::{
        COMMAND_SETTING, EXECUTION_SETTING, SHARED_MEMORY_SETTING, STORE_URL_SETTING,
        TIMEOUT_SETTING, WORKERS_SETTING, WORKER_URLS_SETTING,
    };
    use arrow_array::{BooleanArray, StringArray};
    vec![
        SettingSpec::new(
            EXECUTION_SETTING,
            "Where buffering functions run: 'in_process' (in DuckDB), 'subprocess' \
             (in a pool of vgi-worker processes) or 'remote' (in the HTTP workers of \
             vgi_worker_urls, state in vgi_store_url)",
            Arc::new(StringArray::from(vec!["in_process"])),
        ),
        SettingSpec::new(
            WORKERS_SETTING,
            "Worker processes kept ready for subprocess execution",
            Arc::new(Int64Array::from(vec![2])),
        ),
        SettingSpec::new(
            TIMEOUT_SETTING,
            "Seconds a worker may take to answer one call before it is killed and the \
             query fails (0: no limit)",
            Arc::new(Int64Array::from(vec![60])),
        ),
        SettingSpec::new(
            COMMAND_SETTING,
            "Command line of a worker (empty: vgi-worker beside the extension file)",
            Arc::new(StringArray::from(vec![""])),
        ),
        SettingSpec::new(
            SHARED_MEMORY_SETTING,
            "Whether batches cross to and from workers in shared memory (/dev/shm) \
             rather than through the pipe",
            Arc::new(BooleanArray::from(vec![true])),
        ),
        SettingSpec::new(
            WORKER_URLS_SETTING,
            "Base URLs of the vgi-worker --http processes of remote execution, \
             comma-separated",
            Arc::new(StringArray::from(vec![""])),
        ),
        SettingSpec::new(
            STORE_URL_SETTING,
            "Where remote execution keeps its state: s3://bucket/prefix, the workers' \
             --store (credentials: a secret of TYPE s3 whose scope matches, else AWS_*)",
            Arc::new(StringArray::from(vec![""])),
        ),
    ]
}

/// How many rows the bridge gathers per thread before it calls `process`.
pub const PROCESS_BATCH_ROWS_SETTING: &str = "vgi_process_batch_rows";

/// The default batch: one DuckDB row group (60 vectors).
pub const DEFAULT_PROCESS_BATCH_ROWS: i64 = 122_880;

fn process_batch_rows_setting() -> SettingSpec {
    SettingSpec::new(
        PROCESS_BATCH_ROWS_SETTING,
        "Rows gathered per thread into one process() call (at most 32 MiB of Arrow data; \
         1: one call per DuckDB chunk)",
        Arc::new(Int64Array::from(vec![DEFAULT_PROCESS_BATCH_ROWS])),
    )
}

fn memory_budget_setting() -> SettingSpec {
    use crate::memory_budget::{DEFAULT_MEMORY_BUDGET, MEMORY_BUDGET_SETTING};
    SettingSpec::new(
        MEMORY_BUDGET_SETTING,
        "Memory that the state of in-process executions may hold before it spills to files: \
         a share of memory_limit ('25%'), a size ('512MB') or '0' (files only)",
        Arc::new(arrow_array::StringArray::from(vec![DEFAULT_MEMORY_BUDGET])),
    )
}

/// DuckDB's order of parameters: positional ones (the TABLE among them) as
/// declared, then varargs, then named ones.
fn signature_order(mut params: Vec<ArgSpec>) -> Vec<ArgSpec> {
    params.sort_by_key(|p| match p.data_type {
        ArgType::Table => 0,
        _ if p.varargs => 1,
        _ if p.named => 2,
        _ => 0,
    });
    params
}

/// Every function must take exactly one TABLE argument.
fn validate(functions: &[Arc<RegisteredFunction>]) -> Result<(), String> {
    for f in functions {
        let tables = f
            .params
            .iter()
            .filter(|p| matches!(p.data_type, ArgType::Table))
            .count();
        if tables != 1 {
            return Err(format!(
                "{}: a buffering function takes exactly one TABLE argument, found {tables}",
                f.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::RecordBatch;
    use vgi::sdk::{BindParams, BindResponse, BufferingParams, TableProducer};
    use vgi::store::test_store;

    /// Panics in the description method named by `panics_in`.
    struct Panicky {
        panics_in: &'static str,
    }

    impl TableBufferingFunction for Panicky {
        fn name(&self) -> &str {
            if self.panics_in == "name" {
                panic!("no name today");
            }
            "panicky"
        }
        fn metadata(&self) -> FunctionMetadata {
            if self.panics_in == "metadata" {
                panic!("no metadata today");
            }
            FunctionMetadata::new("panics while it is described")
        }
        fn argument_specs(&self) -> Vec<ArgSpec> {
            if self.panics_in == "argument_specs" {
                panic!("no arguments today");
            }
            vec![ArgSpec::table("data")]
        }
        fn on_bind(&self, params: &BindParams) -> vgi::Result<BindResponse> {
            Ok(BindResponse::new(params.input_schema.clone()))
        }
        fn process(&self, _: &BufferingParams, _: &RecordBatch) -> vgi::Result<Vec<u8>> {
            Ok(Vec::new())
        }
        fn combine(&self, _: &BufferingParams, _: &[Vec<u8>]) -> vgi::Result<Vec<Vec<u8>>> {
            Ok(Vec::new())
        }
        fn finalize_producer(
            &self,
            _: &BufferingParams,
            _: Vec<u8>,
        ) -> vgi::Result<Box<dyn TableProducer>> {
            Err(vgi::Error::function("never finalized"))
        }
    }

    fn registry_of(panics_in: &'static str) -> Registry {
        let (_dir, store) = test_store();
        Registry::with_store(
            vec![
                Box::new(Panicky { panics_in: "" }) as Box<dyn TableBufferingFunction>,
                Box::new(Panicky { panics_in }),
            ],
            Ok(store),
        )
    }

    #[test]
    fn a_panic_while_describing_a_function_is_a_load_error() {
        for (method, expected) in [
            ("name", "function #2: name() panicked: no name today"),
            (
                "metadata",
                "function #2: panicky: metadata() panicked: no metadata today",
            ),
            (
                "argument_specs",
                "function #2: panicky: argument_specs() panicked: no arguments today",
            ),
        ] {
            let registry = registry_of(method);
            assert_eq!(registry.load_error(), Some(expected), "{method}");
            assert_eq!(registry.functions.len(), 1, "{method}");
        }
        assert_eq!(registry_of("").load_error(), None);
    }

    #[test]
    fn a_panic_while_making_the_functions_is_a_load_error() {
        let registry = Registry::from_entry_point(
            || -> Vec<Box<dyn TableBufferingFunction>> { panic!("cannot make them") },
            Vec::new,
        );
        assert_eq!(
            registry.load_error(),
            Some("making the functions and settings panicked: cannot make them")
        );
        let registry = Registry::from_entry_point(
            || vec![Box::new(Panicky { panics_in: "" }) as Box<dyn TableBufferingFunction>],
            || panic!("no settings"),
        );
        assert!(
            registry.load_error().unwrap().contains("no settings"),
            "{:?}",
            registry.load_error()
        );
    }
}
