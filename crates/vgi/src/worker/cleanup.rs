//! Removing an execution's state when the client never calls the
//! destructor (a VGI client need not): once every finalize id that combine
//! returned has been streamed to its end, or once the execution has been
//! idle too long. Both are tracked in the store, so they hold across the
//! worker processes that share it.

use std::time::{Duration, SystemTime};

use super::bound::INIT_KEY;
use crate::protocol::rows::{decode_record, Record, Row};
use crate::protocol::schemas;
use crate::store::BufferingStore;
use crate::Result;

/// Store key of the finalize ids combine returned.
const FINALIZE_IDS_KEY: &[u8] = b"vgi.finalize_ids";
/// Store log of the finalize ids streamed to their end (one entry per stream).
const STREAMED: (&[u8], &[u8]) = (b"vgi", b"streamed");

/// How long an execution may go unused before a worker removes it.
pub const DEFAULT_IDLE_EXECUTION_SECONDS: u64 = 600;

/// Remembers the finalize ids of `exec`; returns true when there are none,
/// so that nothing is left to stream and the execution is done.
pub(crate) fn record_finalize_ids(
    store: &BufferingStore,
    exec: &[u8],
    ids: &[Vec<u8>],
) -> Result<bool> {
    if ids.is_empty() {
        return Ok(true);
    }
    let record = Row::new(schemas::combine_response())
        .byte_list("finalize_state_ids", ids)
        .to_ipc()?;
    store.kv_put(exec, FINALIZE_IDS_KEY, &record)?;
    Ok(false)
}

/// Records that the stream of finalize id `id` of `exec` reached its end;
/// returns true when every finalize id has been (the execution is done).
/// An id combine returned twice must be streamed twice.
pub(crate) fn finalize_streamed(store: &BufferingStore, exec: &[u8], id: &[u8]) -> Result<bool> {
    // No record: no combine here, or the execution was already removed (an
    // append would bring its directory back).
    let Some(record) = store.kv_get(exec, FINALIZE_IDS_KEY)? else {
        return Ok(false);
    };
    let mut pending =
        Record::new(&decode_record(&record)?, "finalize ids")?.byte_list("finalize_state_ids")?;
    store.append(exec, STREAMED.0, STREAMED.1, id)?;
    // Each stream publishes its entry before it reads the others, so the
    // last one to end sees them all.
    for (_, streamed) in store.scan(exec, STREAMED.0, STREAMED.1, -1, usize::MAX)? {
        if let Some(i) = pending.iter().position(|p| *p == streamed) {
            pending.swap_remove(i);
        }
    }
    Ok(pending.is_empty())
}

/// The executions a worker should remove for idleness: opened by a worker's
/// sink `init`, unused for `idle` or longer, and owned by this process or by
/// none that still runs (a client that took an execution over, as the vgi
/// extension does, removes it itself).
pub(crate) fn idle_executions(store: &BufferingStore, idle: Duration) -> Result<Vec<Vec<u8>>> {
    let now = SystemTime::now();
    let mut out = Vec::new();
    for (exec, _) in store.list_executions()? {
        let Some(used) = store.kv_modified(&exec, INIT_KEY)? else {
            continue;
        };
        let unused = now.duration_since(used).unwrap_or_default();
        if unused >= idle && store.owned_here_or_orphaned(&exec)? {
            out.push(exec);
        }
    }
    Ok(out)
}

/// How often a worker looks for idle executions.
pub(crate) fn sweep_interval(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(250), Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[test]
    fn done_when_every_finalize_id_was_streamed() {
        let (_dir, store) = test_store();
        let ids = vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()];
        assert!(
            !finalize_streamed(&store, b"e", b"a").unwrap(),
            "no combine yet"
        );
        assert!(
            store.list_executions().unwrap().is_empty(),
            "nothing written"
        );
        assert!(!record_finalize_ids(&store, b"e", &ids).unwrap());
        assert!(!finalize_streamed(&store, b"e", b"a").unwrap());
        assert!(!finalize_streamed(&store, b"e", b"b").unwrap());
        assert!(
            !finalize_streamed(&store, b"e", b"b").unwrap(),
            "a second b does not stand for the second a"
        );
        assert!(finalize_streamed(&store, b"e", b"a").unwrap());
        assert!(record_finalize_ids(&store, b"f", &[]).unwrap());
    }

    #[test]
    fn idle_means_unused_and_not_owned_by_a_live_process() {
        let (dir, store) = test_store();
        store.kv_put(b"opened", INIT_KEY, b"init").unwrap();
        store.kv_put(b"other", b"k", b"not a worker's").unwrap();
        assert!(idle_executions(&store, Duration::from_secs(60))
            .unwrap()
            .is_empty());
        assert_eq!(
            idle_executions(&store, Duration::ZERO).unwrap(),
            [b"opened".to_vec()]
        );
        // Another process takes it over (as the extension does): its store's lock.
        let client = crate::store::BufferingStore::open(dir.path().join("root")).unwrap();
        client.claim(b"opened").unwrap();
        assert!(
            idle_executions(&store, Duration::ZERO).unwrap().is_empty(),
            "a live process took it over"
        );
        drop(client);
        assert_eq!(
            idle_executions(&store, Duration::ZERO).unwrap(),
            [b"opened".to_vec()],
            "the process that took it over is gone"
        );
    }

    #[test]
    fn sweeps_often_enough() {
        assert_eq!(
            sweep_interval(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
    }
}
