//! The functions one extension registers, with the descriptions DuckDB reads
//! at load time.

use std::sync::Arc;

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
            settings: Vec::new(),
            load_error,
        }
    }

    /// Also registers `settings` with DuckDB.
    pub fn with_settings(mut self, settings: Vec<SettingSpec>) -> Self {
        self.settings = settings;
        self
    }

    /// Why the extension cannot load, if it cannot.
    pub fn load_error(&self) -> Option<&str> {
        self.load_error.as_deref()
    }
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
