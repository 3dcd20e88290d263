//! The functions one extension registers, with the descriptions DuckDB reads
//! at load time.

use std::sync::Arc;

use arrow_array::Int64Array;

use crate::sdk::{ArgSpec, ArgType, FunctionMetadata, SettingSpec, TableBufferingFunction};
use crate::store::BufferingStore;

/// A registered function with its description, computed once at load time.
pub(crate) struct RegisteredFunction {
    pub(crate) function: Box<dyn TableBufferingFunction>,
    pub(crate) name: String,
    pub(crate) metadata: FunctionMetadata,
    pub(crate) params: Vec<ArgSpec>,
    pub(crate) store: Result<Arc<BufferingStore>, String>,
}

/// The functions an extension registers with DuckDB, and the store they share.
pub struct Registry {
    pub(crate) functions: Vec<RegisteredFunction>,
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

    /// Describes `functions`, which will keep their state in `store`.
    pub fn with_store(
        functions: Vec<Box<dyn TableBufferingFunction>>,
        store: Result<Arc<BufferingStore>, String>,
    ) -> Self {
        let load_error = store.as_ref().err().cloned();
        let functions = functions
            .into_iter()
            .map(|function| RegisteredFunction {
                name: function.name().to_string(),
                metadata: function.metadata(),
                params: signature_order(function.argument_specs()),
                store: store.clone(),
                function,
            })
            .collect::<Vec<_>>();
        let load_error = load_error.or_else(|| validate(&functions).err());
        Registry {
            functions,
            settings: bridge_settings(),
            store,
            load_error,
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
    use super::subprocess::{COMMAND_SETTING, EXECUTION_SETTING, TIMEOUT_SETTING, WORKERS_SETTING};
    use arrow_array::StringArray;
    vec![
        SettingSpec::new(
            EXECUTION_SETTING,
            "Where buffering functions run: 'in_process' (in DuckDB) or 'subprocess' \
             (in a pool of vgi-worker processes)",
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
    use crate::store::{DEFAULT_MEMORY_BUDGET, MEMORY_BUDGET_SETTING};
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
fn validate(functions: &[RegisteredFunction]) -> Result<(), String> {
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
