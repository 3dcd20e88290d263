//! Stand-in for subprocess execution in builds without the `subprocess`
//! feature: every call runs in process.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;

use crate::bridge::execution::RemoteCall;
use crate::store::BufferingStore;
use crate::{Result, Settings, TableProducer};

/// No pool can exist in this build.
pub(crate) enum Pool {}

/// No remote execution can exist in this build.
pub(crate) enum Remote {}

pub(crate) fn pool_for(_: &Settings, _: &BufferingStore) -> Result<Option<Arc<Pool>>> {
    Ok(None)
}

impl Remote {
    pub(crate) fn start(
        pool: Arc<Pool>,
        _: RemoteCall,
        _: Option<&[usize]>,
        _: Arc<Mutex<Vec<String>>>,
    ) -> Result<Self> {
        match *pool {}
    }
    pub(crate) fn execution_id(&self) -> &[u8] {
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
