//! Stand-in for subprocess execution in builds without the `subprocess`
//! feature: every call runs in process.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::execution::RemoteCall;
use vgi::store::BufferingStore;
use vgi::{Result, Settings, TableProducer};

/// Named in errors of remote execution, which this build never runs.
pub(crate) const STORE_URL_SETTING: &str = "vgi_store_url";

/// No pool can exist in this build.
pub(crate) enum Pool {}

/// No remote execution can exist in this build.
pub(crate) enum Remote {}

/// No call can be bound remotely in this build.
pub(crate) enum RemoteBind {}

/// Every call keeps its state in the extension's store in this build.
pub(crate) fn store_for(
    _: &Settings,
    _: Option<&crate::s3_secret::S3Secret>,
    local: &std::result::Result<Arc<BufferingStore>, String>,
) -> Result<Arc<BufferingStore>> {
    local.clone().map_err(vgi::Error::InvalidArgument)
}

pub(crate) fn pool_for(_: &Settings, _: &BufferingStore, _: bool) -> Result<Option<Arc<Pool>>> {
    Ok(None)
}

/// No worker is ever started in this build.
pub(crate) fn check_settings(_: &Settings, _: bool) -> Result<()> {
    Ok(())
}

impl RemoteBind {
    pub(crate) fn bind(pool: Arc<Pool>, _: RemoteCall) -> Result<Self> {
        match *pool {}
    }
    pub(crate) fn output_schema(&self) -> SchemaRef {
        match *self {}
    }
    pub(crate) fn opaque_data(&self) -> Option<Vec<u8>> {
        match *self {}
    }
}

impl Remote {
    pub(crate) fn start(
        bound: &RemoteBind,
        _: Option<&[usize]>,
        _: Arc<Mutex<Vec<String>>>,
    ) -> Result<Self> {
        match *bound {}
    }
    pub(crate) fn execution_id(&self) -> &[u8] {
        match *self {}
    }
    pub(crate) fn batch_sink(
        &self,
        _: &arrow_schema::Schema,
        _: usize,
    ) -> Result<Option<crate::in_place::InPlace>> {
        match *self {}
    }
    pub(crate) fn process(&self, _: &RecordBatch, _: Option<i64>) -> Result<(Vec<u8>, String)> {
        match *self {}
    }
    pub(crate) fn combine(&self, _: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, String)> {
        match *self {}
    }
    pub(crate) fn finalize(&self, _: Vec<u8>) -> Result<(Box<dyn TableProducer>, String)> {
        match *self {}
    }
    pub(crate) fn end(&self) {
        match *self {}
    }
}
