//! Per-execution work queue: items pushed once, each popped exactly once.

use std::fs;
use std::io::ErrorKind;

use super::fsio::{discard_temp, list_ids, read_optional, temp_path};
use super::paths::{entry_name, hex};
use super::BufferingStore;
use crate::sdk::error::{Error, Result};

impl BufferingStore {
    /// Append `items` to the queue of `exec`, in order. Safe to call from
    /// several threads or processes. On error, the items before the failing
    /// one have been pushed.
    pub fn queue_push(&self, exec: &[u8], items: &[Vec<u8>]) -> Result<()> {
        let dir = self.queue_dir(exec)?;
        self.ensure_claimed(exec)?;
        for item in items {
            self.append_entry(&dir, item)?;
        }
        Ok(())
    }

    /// Claim and return the oldest unclaimed item, or `None` when the queue is
    /// empty. The claim is an atomic rename, so across threads and processes
    /// each item is returned exactly once. `claim_tag` only labels the claim
    /// file for debugging.
    pub fn queue_pop(&self, exec: &[u8], claim_tag: &str) -> Result<Option<Vec<u8>>> {
        let dir = self.queue_dir(exec)?;
        let tag = hex(&claim_tag.as_bytes()[..claim_tag.len().min(32)]);
        for id in list_ids(&dir)? {
            let item = dir.join(entry_name(id));
            let claimed = temp_path(&dir, &format!("claim-{tag}-"))?;
            match fs::rename(&item, &claimed) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("claim", &item, e)),
            }
            return match read_optional(&claimed) {
                Ok(Some(data)) => {
                    discard_temp(&claimed);
                    Ok(Some(data))
                }
                Ok(None) => Err(Error::Corrupt {
                    path: claimed,
                    reason: "claimed queue item vanished".into(),
                }),
                Err(e) => {
                    // Put the item back so it is not lost; the read error is what we report.
                    fs::rename(&claimed, &item).ok();
                    Err(e)
                }
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_store;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    #[test]
    fn fifo() {
        let (_dir, store) = test_store();
        assert_eq!(store.queue_pop(b"e", "w").unwrap(), None);
        store
            .queue_push(b"e", &[b"a".to_vec(), b"b".to_vec()])
            .unwrap();
        store.queue_push(b"e", &[b"c".to_vec()]).unwrap();
        let popped: Vec<_> = std::iter::from_fn(|| store.queue_pop(b"e", "w").unwrap()).collect();
        assert_eq!(popped, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let dir = store.queue_dir(b"e").unwrap();
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            0,
            "claims cleaned up"
        );
    }

    #[test]
    fn each_item_popped_exactly_once_across_threads() {
        let (dir, store) = test_store();
        let items: Vec<Vec<u8>> = (0..300u16).map(|i| i.to_le_bytes().to_vec()).collect();
        store.queue_push(b"e", &items).unwrap();
        let root = dir.path().join("root");
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let store = if w % 2 == 0 {
                    Arc::clone(&store)
                } else {
                    Arc::new(crate::store::BufferingStore::open(root.clone()).unwrap())
                };
                std::thread::spawn(move || {
                    let tag = format!("worker{w}");
                    std::iter::from_fn(|| store.queue_pop(b"e", &tag).unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().unwrap());
        }
        assert_eq!(all.len(), items.len());
        let unique: BTreeSet<_> = all.into_iter().collect();
        assert_eq!(unique, items.into_iter().collect());
    }
}
