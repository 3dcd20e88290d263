//! The store's operations on object storage: logs, key-value entries,
//! clearing and garbage collection.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, UpdateVersion,
};

use super::{storage, ObjectBackend};
use crate::error::{Error, Result};
use crate::store::frame::{check_framed, framed};
use crate::store::fs::Orphan;
use crate::store::paths::{
    entry_name, exec_name, kv_name, kv_rel, log_rel, parse_entry_name, unhex,
};
use crate::store::random::random_bytes;

/// After the first collision of an append, and then after every this many,
/// the next id comes from a listing instead of counting up: a collision
/// means other writers appended meanwhile, maybe many times, and each
/// collision costs an upload of the whole entry.
const RESCAN_AFTER: u32 = 16;
/// Collisions after which an append gives up (each costs a request).
const MAX_COLLISIONS: u32 = 4096;
/// Listings of an execution that [`ObjectBackend::clear`] deletes, while
/// writes that were under way still land in it.
const CLEAR_ATTEMPTS: u32 = 8;

/// The user metadata (`x-amz-meta-vgi-writer`) that marks who created an
/// entry: see [`ObjectBackend::create_as`].
const WRITER_TAG: &str = "vgi-writer";

/// A relative path of [`paths`](crate::store::paths) as a `/`-separated string.
fn rel_str(rel: &Path) -> &str {
    rel.to_str().expect("store paths are made of hex digits")
}

impl ObjectBackend {
    /// Stores `value` under `(exec, key)`, replacing any previous value.
    pub(crate) fn kv_put(&self, exec: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
        let object = self.kv_key(exec, key)?;
        self.overwrite(&object, value)
    }

    /// The value under `(exec, key)`, or `None` if there is none.
    pub(crate) fn kv_get(&self, exec: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(&self.kv_key(exec, key)?)
    }

    /// Removes `(exec, key)`; returns whether it existed.
    pub(crate) fn kv_del(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        let object = self.kv_key(exec, key)?;
        if self.head(&object)?.is_none() {
            return Ok(false);
        }
        self.delete(&object)?;
        Ok(true)
    }

    /// Marks `(exec, key)` as used now by writing it again, unless it
    /// changed since it was read (`If-Match` its ETag): a newer write is a
    /// use too, and is never undone. False if there is no such entry.
    pub(crate) fn kv_touch(&self, exec: &[u8], key: &[u8]) -> Result<bool> {
        let object = self.kv_key(exec, key)?;
        let Some((value, e_tag)) = self.get_tagged(&object)? else {
            return Ok(false);
        };
        let update = PutMode::Update(UpdateVersion {
            e_tag,
            version: None,
        });
        let result = self.block_on(self.client.put_opts(
            &object,
            framed(&value).into(),
            update.into(),
        ));
        match result {
            Ok(_) => Ok(true),
            Err(object_store::Error::Precondition { .. }) => Ok(self.head(&object)?.is_some()),
            Err(e) => Err(storage("touch", &self.url_of(&object), e)),
        }
    }

    /// When `(exec, key)` was last written; `None` if there is no such entry.
    pub(crate) fn kv_modified(&self, exec: &[u8], key: &[u8]) -> Result<Option<SystemTime>> {
        let meta = self.head(&self.kv_key(exec, key)?)?;
        Ok(meta.map(|m| SystemTime::from(m.last_modified)))
    }

    /// Appends `value` under `(exec, ns, key)` and returns its id: a create
    /// at the next free id, the next one while it exists.
    pub(crate) fn append(&self, exec: &[u8], ns: &[u8], key: &[u8], value: &[u8]) -> Result<i64> {
        let log = self.key(rel_str(&log_rel(exec, ns, key)?));
        let hint = self.next_ids().get(log.as_ref()).copied();
        let mut id = match hint {
            Some(id) => id,
            None => self.next_after_max(&log)?,
        };
        let mut collisions: u32 = 0;
        loop {
            if self.create_as("put", &log.clone().join(entry_name(id)), value)? {
                let mut hints = self.next_ids();
                let slot = hints.entry(log.to_string()).or_insert(id + 1);
                *slot = (*slot).max(id + 1);
                return Ok(id);
            }
            collisions += 1;
            if collisions == MAX_COLLISIONS {
                return Err(Error::Storage {
                    op: "append to",
                    url: self.url_of(&log),
                    message: format!("every id tried was taken ({MAX_COLLISIONS} in a row)"),
                });
            }
            let next = id.checked_add(1).ok_or_else(|| Error::Corrupt {
                path: PathBuf::from(self.url_of(&log)),
                reason: "entry ids exhausted".into(),
            })?;
            id = if collisions == 1 || collisions.is_multiple_of(RESCAN_AFTER) {
                self.next_after_max(&log)?.max(next)
            } else {
                next
            };
        }
    }

    /// The ids of the entries of `(exec, ns, key)`, ascending.
    pub(crate) fn entry_ids(&self, exec: &[u8], ns: &[u8], key: &[u8]) -> Result<Vec<i64>> {
        self.ids_in(&self.key(rel_str(&log_rel(exec, ns, key)?)))
    }

    /// The entry `id` of `(exec, ns, key)`, or `None` if there is none.
    pub(crate) fn read_entry(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
    ) -> Result<Option<Vec<u8>>> {
        self.get(&self.entry_key(exec, ns, key, id)?)
    }

    /// Writes `bytes` as entry `id` of `(exec, ns, key)`: an error if that
    /// id is taken (the memory tier spills under ids it handed out).
    pub(crate) fn put_entry_at(
        &self,
        exec: &[u8],
        ns: &[u8],
        key: &[u8],
        id: i64,
        bytes: &[u8],
    ) -> Result<()> {
        let object = self.entry_key(exec, ns, key, id)?;
        if self.create_as("put", &object, bytes)? {
            return Ok(());
        }
        Err(Error::Corrupt {
            path: PathBuf::from(self.url_of(&object)),
            reason: "the id of a spilled entry is already taken".into(),
        })
    }

    /// Deletes every object of `exec`; succeeds if there are none.
    pub(crate) fn clear(&self, exec: &[u8]) -> Result<()> {
        let under = self.key(&exec_name(exec)?);
        self.next_ids()
            .retain(|log, _| !Key::from(log.as_str()).prefix_matches(&under));
        for _ in 0..CLEAR_ATTEMPTS {
            let objects = self.list(&under)?;
            if objects.is_empty() {
                return Ok(());
            }
            self.delete_all(objects.into_iter().map(|m| m.location).collect())?;
        }
        Err(Error::Storage {
            op: "clear",
            url: self.url_of(&under),
            message: format!("objects kept appearing after {CLEAR_ATTEMPTS} deletions"),
        })
    }

    /// Every execution with objects, as `(execution id, its oldest object's
    /// time)`, oldest first.
    pub(crate) fn list_executions(&self) -> Result<Vec<(Vec<u8>, SystemTime)>> {
        let mut out: Vec<_> = self
            .executions()?
            .into_iter()
            .map(|e| (e.exec, e.oldest))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Nothing to do: object storage has no locks (see [`collect_orphans`](Self::collect_orphans)).
    pub(crate) fn claim(&self, _exec: &[u8]) -> Result<()> {
        Ok(())
    }

    /// Nothing to do, as [`claim`](Self::claim).
    pub(crate) fn ensure_claimed(&self, _exec: &[u8]) -> Result<()> {
        Ok(())
    }

    /// Nothing to do, as [`claim`](Self::claim).
    pub(crate) fn join(&self, _exec: &[u8]) {}

    /// Nothing to do, as [`claim`](Self::claim).
    pub(crate) fn leave(&self, _exec: &[u8]) {}

    /// Always true: no process can hold an execution on object storage.
    pub(crate) fn owned_here_or_orphaned(&self, _exec: &[u8]) -> Result<bool> {
        Ok(true)
    }

    /// Deletes every execution under the prefix none of whose objects was
    /// written in the last `ttl`, and reports each.
    pub(crate) fn collect_orphans(&self, ttl: Duration) -> Result<Vec<Orphan>> {
        let now = SystemTime::now();
        let mut orphans = Vec::new();
        for found in self.executions()? {
            let idle = now.duration_since(found.newest).unwrap_or_default();
            if idle < ttl {
                continue;
            }
            let error = self.clear(&found.exec).err().map(|e| e.to_string());
            orphans.push(Orphan {
                execution_id: hex::encode(&found.exec),
                age: now.duration_since(found.oldest).unwrap_or_default(),
                bytes: found.bytes,
                error,
            });
        }
        Ok(orphans)
    }

    /// The executions under the prefix, from one listing of it.
    fn executions(&self) -> Result<Vec<Found>> {
        let mut found: Vec<Found> = Vec::new();
        for meta in self.list(&self.prefix)? {
            let Some(exec) = meta
                .location
                .prefix_match(&self.prefix)
                .and_then(|mut parts| parts.next())
                .and_then(|part| unhex(part.as_ref()))
                .filter(|exec| !exec.is_empty())
            else {
                continue;
            };
            let at = SystemTime::from(meta.last_modified);
            match found.last_mut() {
                Some(last) if last.exec == exec => {
                    last.oldest = last.oldest.min(at);
                    last.newest = last.newest.max(at);
                    last.bytes += meta.size;
                }
                _ => found.push(Found {
                    exec,
                    oldest: at,
                    newest: at,
                    bytes: meta.size,
                }),
            }
        }
        Ok(found)
    }

    fn kv_key(&self, exec: &[u8], key: &[u8]) -> Result<Key> {
        Ok(self.key(rel_str(&kv_rel(exec)?)).join(kv_name(key)?))
    }

    fn entry_key(&self, exec: &[u8], ns: &[u8], key: &[u8], id: i64) -> Result<Key> {
        Ok(self
            .key(rel_str(&log_rel(exec, ns, key)?))
            .join(entry_name(id)))
    }

    fn next_after_max(&self, log: &Key) -> Result<i64> {
        Ok(self
            .ids_in(log)?
            .last()
            .map_or(0, |max| max.saturating_add(1)))
    }

    /// The ids of the entries under `log`, ascending.
    fn ids_in(&self, log: &Key) -> Result<Vec<i64>> {
        let mut ids: Vec<i64> = self
            .list(log)?
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()
                    .and_then(|n| parse_entry_name(OsStr::new(n)))
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Writes `value`, framed, at `object` in one request, replacing what is there.
    fn overwrite(&self, object: &Key, value: &[u8]) -> Result<()> {
        self.block_on(self.client.put(object, framed(value).into()))
            .map(drop)
            .map_err(|e| storage("put", &self.url_of(object), e))
    }

    /// Creates `object` holding `value`, framed, in one request; false when
    /// another writer created it first. A failed request is an error that
    /// names `op`.
    ///
    /// object_store sends a create again when its answer was a 5xx (or the
    /// connection failed before one came): if the server had stored the
    /// first one, the second is refused as if another writer had the id,
    /// and the caller would write the same entry again at the next one.
    /// So each create carries a tag of its own as user metadata, and a
    /// refused create that finds its own tag on the object has succeeded.
    pub(super) fn create_as(&self, op: &'static str, object: &Key, value: &[u8]) -> Result<bool> {
        let tag = hex::encode(random_bytes::<16>()?);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::Metadata(WRITER_TAG.into()), tag.clone().into());
        let options = PutOptions {
            mode: PutMode::Create,
            attributes,
            ..PutOptions::default()
        };
        let result = self.block_on(self.client.put_opts(object, framed(value).into(), options));
        match result {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Ok(self.writer_tag(object)?.as_deref() == Some(tag.as_str()))
            }
            Err(e) => Err(storage(op, &self.url_of(object), e)),
        }
    }

    /// The tag of the create that wrote `object` (see [`create_as`](Self::create_as));
    /// `None` if it has none or is gone.
    fn writer_tag(&self, object: &Key) -> Result<Option<String>> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.block_on(self.client.get_opts(object, options)) {
            Ok(found) => Ok(found
                .attributes
                .get(&Attribute::Metadata(WRITER_TAG.into()))
                .map(|v| v.to_string())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage("head", &self.url_of(object), e)),
        }
    }

    /// The payload of `object`, its frame checked; `None` if there is no such object.
    fn get(&self, object: &Key) -> Result<Option<Vec<u8>>> {
        Ok(self.get_tagged(object)?.map(|(payload, _)| payload))
    }

    /// [`get`](Self::get), with the object's ETag.
    fn get_tagged(&self, object: &Key) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let url = self.url_of(object);
        let found = self.block_on(async {
            match self.client.get(object).await {
                Ok(found) => {
                    let e_tag = found.meta.e_tag.clone();
                    found.bytes().await.map(|bytes| Some((bytes, e_tag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match found.map_err(|e| storage("get", &url, e))? {
            Some((bytes, e_tag)) => Ok(Some((
                check_framed(Path::new(&url), bytes.to_vec())?,
                e_tag,
            ))),
            None => Ok(None),
        }
    }

    fn head(&self, object: &Key) -> Result<Option<ObjectMeta>> {
        match self.block_on(self.client.head(object)) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage("head", &self.url_of(object), e)),
        }
    }

    fn delete(&self, object: &Key) -> Result<()> {
        match self.block_on(self.client.delete(object)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage("delete", &self.url_of(object), e)),
        }
    }

    fn delete_all(&self, objects: Vec<Key>) -> Result<()> {
        let stream = futures_util::stream::iter(objects.into_iter().map(Ok)).boxed();
        let results: Vec<_> = self.block_on(self.client.delete_stream(stream).collect());
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage("delete", &self.url, e)),
            }
        }
        Ok(())
    }

    /// Every object under `under`, sorted by key (servers need not list in order).
    fn list(&self, under: &Key) -> Result<Vec<ObjectMeta>> {
        let prefix = (!under.as_ref().is_empty()).then_some(under);
        let mut objects: Vec<ObjectMeta> = self
            .block_on(self.client.list(prefix).try_collect())
            .map_err(|e| storage("list", &self.url_of(under), e))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }
}

/// One execution of a listing.
struct Found {
    exec: Vec<u8>,
    oldest: SystemTime,
    newest: SystemTime,
    bytes: u64,
}
