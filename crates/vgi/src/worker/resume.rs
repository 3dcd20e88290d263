//! Finalize streams that go on in another request (vgi-rpc's HTTP
//! transport): after each batch the stream's state is encoded into the
//! token the client sends back, and any worker holding the same token key
//! decodes it and continues the stream.
//!
//! The state is the execution id, the finalize id, the projection (pushed
//! down and applied here), how many batches were emitted and the producer's
//! [`checkpoint`](crate::TableProducer::checkpoint). A worker continuing the
//! stream builds the producer anew through the function's
//! `finalize_producer` and restores the checkpoint; a producer without one
//! is advanced past the batches already emitted, which is right only for a
//! deterministic producer (and costs a rebuild per batch).

use std::sync::Arc;
use std::time::Instant;

use vgi_rpc::server::StateDecoder;
use vgi_rpc::stream::StreamStateKind;

use super::handlers::{rpc, Worker};
use super::streams::Finalize;
use crate::sdk::panic::catch_panic;
use crate::{Error, Result};

/// The first bytes of an encoded finalize state (its format's version).
const MAGIC: &[u8] = b"vgi-finalize-1";

/// What a finalize stream needs to go on elsewhere.
#[derive(Debug, PartialEq, Eq)]
struct State {
    exec: Vec<u8>,
    finalize_id: Vec<u8>,
    pushed: Option<Vec<usize>>,
    here: Option<Vec<usize>>,
    emitted: u64,
    checkpoint: Option<Vec<u8>>,
}

/// The bytes of `finalize`'s state, for the continuation token.
pub(super) fn encode(finalize: &Finalize) -> Vec<u8> {
    let state = State {
        exec: finalize.params.execution_id.clone(),
        finalize_id: finalize.finalize_id.clone(),
        pushed: finalize.params.projected_columns.clone(),
        here: finalize.projection.clone(),
        emitted: finalize.emitted,
        checkpoint: finalize.producer.checkpoint(),
    };
    state.to_bytes()
}

/// The decoder vgi-rpc calls on a continuation's state: it rebuilds the
/// finalize stream in `worker`.
pub(super) fn decoder(worker: Arc<Worker>) -> StateDecoder {
    Arc::new(move |bytes| {
        let state = State::from_bytes(bytes).map_err(rpc)?;
        let finalize = resume(&worker, state).map_err(rpc)?;
        Ok(StreamStateKind::Producer(Box::new(finalize)))
    })
}

/// The finalize stream `state` describes, at the batch it stopped after.
fn resume(worker: &Worker, state: State) -> Result<Finalize> {
    let (bound, mut params) = worker.execution_by_id(&state.exec)?;
    params.projected_columns = state.pushed;
    let function = worker.function(&bound);
    let finalize_id = state.finalize_id.clone();
    let mut producer = catch_panic(|| function.finalize_producer(&params, finalize_id))?;
    let restored = match &state.checkpoint {
        Some(checkpoint) => producer.restore(checkpoint)?,
        None => false,
    };
    if !restored {
        for skipped in 0..state.emitted {
            if producer.next_batch()?.is_none() {
                return Err(Error::Function(format!(
                    "finalize producer rebuilt to resume a stream ended after {skipped} \
                     of the {} batches it had emitted (it must be deterministic)",
                    state.emitted
                )));
            }
        }
    }
    Ok(Finalize {
        producer,
        projection: state.here,
        params,
        finalize_id: state.finalize_id,
        touched: Instant::now(),
        shared: None,
        emitted: state.emitted,
    })
}

impl State {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_bytes(&mut out, &self.exec);
        put_bytes(&mut out, &self.finalize_id);
        put_columns(&mut out, self.pushed.as_deref());
        put_columns(&mut out, self.here.as_deref());
        out.extend_from_slice(&self.emitted.to_le_bytes());
        match &self.checkpoint {
            Some(checkpoint) => {
                out.push(1);
                put_bytes(&mut out, checkpoint);
            }
            None => out.push(0),
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<State> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(bad("not a vgi finalize state"));
        }
        let state = State {
            exec: r.bytes()?,
            finalize_id: r.bytes()?,
            pushed: r.columns()?,
            here: r.columns()?,
            emitted: r.u64()?,
            checkpoint: match r.take(1)?[0] {
                0 => None,
                1 => Some(r.bytes()?),
                _ => return Err(bad("bad checkpoint flag")),
            },
        };
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(state)
    }
}

fn bad(what: &str) -> Error {
    Error::InvalidArgument(format!("finalize stream state: {what}"))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_columns(out: &mut Vec<u8>, columns: Option<&[usize]>) {
    match columns {
        Some(columns) => {
            out.push(1);
            out.extend_from_slice(&(columns.len() as u64).to_le_bytes());
            for c in columns {
                out.extend_from_slice(&(*c as u64).to_le_bytes());
            }
        }
        None => out.push(0),
    }
}

/// Reads the fields of an encoded state in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.0.len())
            .ok_or_else(|| bad("length past the end"))
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }

    fn columns(&mut self) -> Result<Option<Vec<usize>>> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => {
                let n = self.u64()?;
                if n > (self.0.len() / 8) as u64 {
                    return Err(bad("length past the end"));
                }
                (0..n)
                    .map(|_| Ok(self.u64()? as usize))
                    .collect::<Result<_>>()
                    .map(Some)
            }
            _ => Err(bad("bad projection flag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_garbage_is_refused() {
        let state = State {
            exec: b"exec".to_vec(),
            finalize_id: vec![0, 1, 2],
            pushed: Some(vec![2, 0]),
            here: None,
            emitted: 7,
            checkpoint: Some(vec![9; 16]),
        };
        let bytes = state.to_bytes();
        assert_eq!(State::from_bytes(&bytes).unwrap(), state);
        for cut in 0..bytes.len() {
            assert!(State::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(State::from_bytes(&longer).is_err());
    }
}
