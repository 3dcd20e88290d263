//! The store on S3-compatible storage, against a real moto server on
//! loopback (see `support/moto.rs`; skipped without `VGI_MOTO_SERVER`).
#![cfg(feature = "object-store")]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use support::fault_proxy::{Fault, FaultProxy};
use support::moto::{free_port, Moto};
use vgi::error::Error;
use vgi::store::{BufferingStore, S3Options};

const BUCKET: &str = "vgi-test";

fn options(endpoint: &str) -> S3Options {
    S3Options {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: true,
        ..S3Options::default()
    }
}

/// A moto server with the test bucket, or `None` when the tests skip.
fn server() -> Option<Moto> {
    let moto = Moto::start(&[])?;
    moto.create_bucket(BUCKET);
    Some(moto)
}

fn open(moto: &Moto, prefix: &str) -> BufferingStore {
    open_at(&moto.endpoint, prefix)
}

/// The store under `prefix` of the test bucket, through `endpoint`.
fn open_at(endpoint: &str, prefix: &str) -> BufferingStore {
    BufferingStore::open_s3(&format!("s3://{BUCKET}/{prefix}"), &options(endpoint)).unwrap()
}

/// The ids of the executions `store` lists, in its order.
fn execution_ids(store: &BufferingStore) -> Vec<Vec<u8>> {
    store
        .list_executions()
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect()
}

/// Direct access to the bucket, around the store.
struct Raw {
    client: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

impl Raw {
    fn new(moto: &Moto) -> Raw {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_endpoint(&moto.endpoint)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .build()
            .unwrap();
        Raw { client, runtime }
    }

    /// Every key under `prefix`, sorted.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = Key::from(prefix);
        let metas: Vec<_> = self
            .runtime
            .block_on(self.client.list(Some(&prefix)).try_collect::<Vec<_>>())
            .unwrap();
        let mut keys: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        keys
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(self.client.put(&Key::from(key), bytes.into()))
            .unwrap();
    }

    fn get(&self, key: &str) -> Vec<u8> {
        self.runtime
            .block_on(async { self.client.get(&Key::from(key)).await?.bytes().await })
            .unwrap()
            .to_vec()
    }
}

#[test]
fn append_then_scan_in_order_with_paging() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "scan");
    for i in 0..12u8 {
        assert_eq!(store.append(b"e", b"ns", b"k", [i]).unwrap(), i64::from(i));
    }
    store.append(b"e", b"ns", b"other", [99]).unwrap();
    let mut seen = Vec::new();
    let mut after = -1;
    for _ in 0..10 {
        let page = store.scan(b"e", b"ns", b"k", after, 5).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 5);
        after = page.last().unwrap().0;
        seen.extend(page.into_iter().map(|(_, v)| v[0]));
    }
    assert_eq!(seen, (0..12).collect::<Vec<u8>>());
    assert_eq!(store.entry_ids(b"e", b"ns", b"other").unwrap(), vec![0]);
    assert!(store.scan(b"e", b"ns", b"none", -1, 10).unwrap().is_empty());
    // The filesystem layout's keys under the prefix, each entry framed.
    let raw = Raw::new(&moto);
    let log = format!(
        "scan/{}/log/{}-{}",
        hex::encode("e"),
        hex::encode("ns"),
        hex::encode("k")
    );
    let keys = raw.keys(&log);
    assert_eq!(keys.len(), 12);
    assert_eq!(keys[3], format!("{log}/00000000000000000003.bin"));
    assert_eq!(&raw.get(&keys[3])[..4], b"VGIS");
}

#[test]
fn a_second_store_on_the_same_prefix_continues_the_ids() {
    let Some(moto) = server() else { return };
    let (a, b) = (open(&moto, "two"), open(&moto, "two"));
    assert_eq!(a.append(b"e", b"n", b"k", b"a").unwrap(), 0);
    assert_eq!(b.append(b"e", b"n", b"k", b"b").unwrap(), 1);
    assert_eq!(a.append(b"e", b"n", b"k", b"c").unwrap(), 2);
    let values: Vec<Vec<u8>> = b
        .scan(b"e", b"n", b"k", -1, 10)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, [b"a", b"b", b"c"]);
}

#[test]
fn an_append_behind_other_writers_lists_the_log_instead_of_trying_each_id() {
    let Some(moto) = server() else { return };
    let proxy = FaultProxy::start(moto.port, Fault::None);
    let behind = open_at(&proxy.endpoint, "behind");
    assert_eq!(behind.append(b"e", b"n", b"k", b"first").unwrap(), 0);
    let other = open(&moto, "behind");
    for i in 0..20u8 {
        other.append(b"e", b"n", b"k", [i]).unwrap();
    }
    let before = proxy.requests().len();
    assert_eq!(behind.append(b"e", b"n", b"k", b"late").unwrap(), 21);
    let sent = proxy.requests()[before..].to_vec();
    let puts = sent.iter().filter(|line| line.starts_with("PUT ")).count();
    assert_eq!(
        puts, 2,
        "refused at the id it counted, created at the one after the listed last: {sent:?}"
    );
}

#[test]
fn concurrent_appends_never_collide() {
    let Some(moto) = server() else { return };
    let shared = Arc::new(open(&moto, "race"));
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            // Half the threads share a store, half open their own (like processes).
            let store = if t % 2 == 0 {
                Arc::clone(&shared)
            } else {
                Arc::new(open(&moto, "race"))
            };
            std::thread::spawn(move || {
                (0..25u8)
                    .map(|i| store.append(b"e", b"n", b"k", [t, i]).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in threads {
        let mine = t.join().unwrap();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-writer order");
        ids.extend(mine);
    }
    assert_eq!(ids.len(), 100);
    let entries = shared.scan(b"e", b"n", b"k", -1, 1000).unwrap();
    let values: BTreeSet<Vec<u8>> = entries.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values.len(), 100, "no entry overwrote another");
}

#[test]
fn kv_overwrite_read_touch_and_delete() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "kv");
    assert_eq!(store.kv_get(b"e", b"k").unwrap(), None);
    assert_eq!(store.kv_modified(b"e", b"k").unwrap(), None);
    assert!(!store.kv_touch(b"e", b"k").unwrap());
    store.kv_put(b"e", b"k", b"one").unwrap();
    store.kv_put(b"e", b"k", b"two").unwrap();
    assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"two");
    let written = store.kv_modified(b"e", b"k").unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(store.kv_touch(b"e", b"k").unwrap());
    let touched = store.kv_modified(b"e", b"k").unwrap().unwrap();
    assert!(
        touched >= written + Duration::from_secs(1),
        "{written:?} -> {touched:?}"
    );
    assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"two");
    assert_eq!(
        open(&moto, "kv").kv_get(b"e", b"k").unwrap().unwrap(),
        b"two"
    );
    assert_eq!(open(&moto, "other").kv_get(b"e", b"k").unwrap(), None);
    assert!(store.kv_del(b"e", b"k").unwrap());
    assert!(!store.kv_del(b"e", b"k").unwrap());
    assert_eq!(store.kv_get(b"e", b"k").unwrap(), None);
}

#[test]
fn the_memory_tier_spills_to_objects_under_its_ids() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "mem");
    // A budget of 3 bytes: the first entry stays in memory, the rest spill.
    store.keep_in_memory(b"e", 3);
    for i in 0..4u8 {
        assert_eq!(
            store.append(b"e", b"n", b"k", [i, i, i]).unwrap(),
            i64::from(i)
        );
    }
    store.kv_put(b"e", b"big", b"more than three").unwrap();
    let raw = Raw::new(&moto);
    assert_eq!(raw.keys("mem").len(), 4, "{:?}", raw.keys("mem"));
    assert_eq!(store.entry_ids(b"e", b"n", b"k").unwrap(), vec![0, 1, 2, 3]);
    let values: Vec<Vec<u8>> = store
        .scan(b"e", b"n", b"k", -1, 10)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, (0..4u8).map(|i| vec![i; 3]).collect::<Vec<_>>());
    assert_eq!(
        store.kv_get(b"e", b"big").unwrap().unwrap(),
        b"more than three"
    );
    store.clear(b"e").unwrap();
    assert!(raw.keys("mem").is_empty());
    assert_eq!(store.memory_held(), 0);
}

#[test]
fn a_corrupt_object_is_an_error_naming_it() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "corrupt");
    store.append(b"e", b"n", b"k", b"payload").unwrap();
    store.kv_put(b"e", b"k", b"value").unwrap();
    let raw = Raw::new(&moto);
    let keys = raw.keys("corrupt");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        let mut bytes = raw.get(key);
        *bytes.last_mut().unwrap() ^= 0xff;
        raw.put(key, bytes);
    }
    for err in [
        store.scan(b"e", b"n", b"k", -1, 10).unwrap_err(),
        store.kv_get(b"e", b"k").unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{msg}");
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert!(msg.contains(&format!("s3://{BUCKET}/corrupt/")), "{msg}");
    }
}

#[test]
fn clear_leaves_nothing_of_the_execution() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "clear");
    for exec in [&b"e1"[..], b"e2"] {
        for i in 0..3u8 {
            store.append(exec, b"n", b"k", [i]).unwrap();
        }
        store.kv_put(exec, b"k", b"v").unwrap();
    }
    store.clear(b"e1").unwrap();
    store.clear(b"e1").unwrap();
    store.clear(b"never").unwrap();
    let raw = Raw::new(&moto);
    assert!(raw.keys(&format!("clear/{}", hex::encode("e1"))).is_empty());
    assert_eq!(raw.keys(&format!("clear/{}", hex::encode("e2"))).len(), 4);
    let execs = execution_ids(&store);
    assert_eq!(execs, vec![b"e2".to_vec()]);
    assert_eq!(store.append(b"e1", b"n", b"k", b"again").unwrap(), 0);
    store.clear(b"e1").unwrap();
    store.clear(b"e2").unwrap();
    assert!(raw.keys("clear").is_empty(), "{:?}", raw.keys("clear"));
}

#[test]
fn an_execution_a_worker_opened_is_found_only_in_its_store() {
    let Some(moto) = server() else { return };
    let workers = open(&moto, "opened-workers");
    let elsewhere = open(&moto, "opened-elsewhere");
    // What a worker's sink init stores (the key of vgi::worker's bind).
    workers.kv_put(b"opened", b"vgi.init", b"bind").unwrap();
    assert!(vgi::worker::opened_in(&workers, b"opened").unwrap());
    assert!(!vgi::worker::opened_in(&elsewhere, b"opened").unwrap());
    workers.clear(b"opened").unwrap();
    assert!(!vgi::worker::opened_in(&workers, b"opened").unwrap());
    assert!(Raw::new(&moto).keys("opened-").is_empty());
}

#[test]
fn orphans_are_collected_by_the_age_of_their_newest_object() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "gc");
    store.append(b"old", b"n", b"k", b"v").unwrap();
    store.kv_put(b"old", b"k", b"v").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    store.append(b"new", b"n", b"k", b"v").unwrap();
    assert!(store
        .collect_orphans(Duration::from_secs(3600))
        .unwrap()
        .is_empty());
    let orphans = store.collect_orphans(Duration::from_millis(1500)).unwrap();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!(orphans[0].execution_id, hex::encode("old"));
    assert_eq!(orphans[0].error, None);
    assert!(orphans[0].bytes > 0);
    let execs = execution_ids(&store);
    assert_eq!(execs, vec![b"new".to_vec()]);
    assert_eq!(store.collect_orphans(Duration::ZERO).unwrap().len(), 1);
    assert!(Raw::new(&moto).keys("gc").is_empty());
}

#[test]
fn the_conditional_create_probe_passes_on_moto_and_leaves_nothing() {
    let Some(moto) = server() else { return };
    let store = open(&moto, "probe");
    drop(store);
    let raw = Raw::new(&moto);
    assert!(raw.keys("probe").is_empty(), "{:?}", raw.keys("probe"));
    // Without a prefix, the probe sits at the bucket's top, and goes too.
    let whole = BufferingStore::open_s3(&format!("s3://{BUCKET}"), &options(&moto.endpoint));
    whole.unwrap().kv_put(b"e", b"k", b"v").unwrap();
    assert_eq!(
        raw.keys(""),
        vec![format!("{}/kv/k-{}", hex::encode("e"), hex::encode("k"))]
    );
}

#[test]
fn a_server_that_ignores_conditional_create_is_refused_at_open() {
    let Some(moto) = server() else { return };
    // The same moto, through a proxy that drops `If-None-Match`.
    let proxy = FaultProxy::start(moto.port, Fault::StripHeader("If-None-Match"));
    let url = format!("s3://{BUCKET}/ignored");
    refused_quickly(
        &url,
        &options(&proxy.endpoint),
        &["check conditional create", "overwrote an existing object"],
        Duration::from_secs(10),
    );
    // The probe object is removed, and the same prefix opens without the proxy.
    let raw = Raw::new(&moto);
    assert!(raw.keys("ignored").is_empty(), "{:?}", raw.keys("ignored"));
    open(&moto, "ignored").kv_put(b"e", b"k", b"v").unwrap();
    drop(proxy);
}

/// Creates whose answer the proxy replaces by a 500 after moto stored them:
/// object_store sends each again, and moto refuses it as the object exists.
fn lose_the_answers_to(moto: &Moto, path: &'static str) -> FaultProxy {
    let fault = Fault::HideAnswer {
        header: "If-None-Match",
        path,
        times: 1,
    };
    FaultProxy::start(moto.port, fault)
}

#[test]
fn an_append_whose_answer_was_lost_is_written_once() {
    let Some(moto) = server() else { return };
    let proxy = lose_the_answers_to(&moto, "/log/");
    let store = open_at(&proxy.endpoint, "lost");
    let first = store.append(b"e", b"n", b"k", b"once").unwrap();
    assert_eq!(proxy.injected(), 1, "the first create was answered 500");
    let second = store.append(b"e", b"n", b"k", b"next").unwrap();
    assert_eq!(second, first + 1, "the retried create kept its id");
    let entries = open(&moto, "lost").scan(b"e", b"n", b"k", -1, 10).unwrap();
    let values: Vec<Vec<u8>> = entries.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, [b"once".to_vec(), b"next".to_vec()]);
}

#[test]
fn a_probe_whose_answer_was_lost_still_opens_the_store() {
    let Some(moto) = server() else { return };
    let proxy = lose_the_answers_to(&moto, ".vgi-probe");
    let store = open_at(&proxy.endpoint, "probe-lost");
    assert_eq!(proxy.injected(), 1, "the probe's create was answered 500");
    store.kv_put(b"e", b"k", b"v").unwrap();
    let raw = Raw::new(&moto);
    assert_eq!(
        raw.keys("probe-lost").len(),
        1,
        "{:?}",
        raw.keys("probe-lost")
    );
}

#[test]
fn a_store_can_be_used_inside_block_in_place_on_a_multi_thread_runtime() {
    let Some(moto) = server() else { return };
    let store = Arc::new(open(&moto, "nested"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let task = {
        let store = Arc::clone(&store);
        runtime.spawn(async move {
            tokio::task::block_in_place(|| {
                store.kv_put(b"e", b"k", b"v").unwrap();
                store.append(b"e", b"n", b"k", b"x").unwrap();
                store.kv_get(b"e", b"k").unwrap()
            })
        })
    };
    let got = runtime.block_on(task).unwrap();
    assert_eq!(got.as_deref(), Some(&b"v"[..]));
    drop(runtime);
    assert_eq!(store.entry_ids(b"e", b"n", b"k").unwrap(), vec![0]);
}

/// An error of `open_s3` within `limit`, checked to be a storage error
/// naming the store's URL and containing `expected`.
fn refused_quickly(url: &str, options: &S3Options, expected: &[&str], limit: Duration) {
    let start = Instant::now();
    let err = BufferingStore::open_s3(url, options).unwrap_err();
    let took = start.elapsed();
    let msg = err.to_string();
    eprintln!("open_s3 failed after {took:?}: {msg}");
    assert!(matches!(err, Error::Storage { .. }), "{msg}");
    assert!(msg.contains(url), "{msg}");
    for part in expected {
        assert!(msg.contains(part), "{part:?} missing: {msg}");
    }
    assert!(took < limit, "took {took:?}: {msg}");
}

#[test]
fn a_refused_write_is_a_clear_error() {
    // Moto lets the bucket be created, then checks every request's
    // credentials, and knows no "test" key.
    let Some(moto) = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]) else {
        return;
    };
    moto.create_bucket(BUCKET);
    let url = format!("s3://{BUCKET}/refused");
    refused_quickly(
        &url,
        &options(&moto.endpoint),
        &["create a probe object", "403"],
        Duration::from_secs(10),
    );
}

#[test]
fn a_server_that_is_down_is_a_clear_error_within_seconds() {
    if std::env::var_os("VGI_MOTO_SERVER").is_none() {
        eprintln!("skipped: VGI_MOTO_SERVER (the path of moto_server) is not set");
        return;
    }
    let mut moto = server().unwrap();
    moto.stop();
    let url = format!("s3://{BUCKET}/down");
    refused_quickly(
        &url,
        &options(&moto.endpoint),
        &["create a probe object"],
        Duration::from_secs(10),
    );
    // Nothing ever listened on this one.
    let nowhere = options(&format!("http://127.0.0.1:{}", free_port()));
    refused_quickly(
        &url,
        &nowhere,
        &["create a probe object"],
        Duration::from_secs(10),
    );
}

#[test]
fn a_missing_bucket_is_a_clear_error() {
    let Some(moto) = server() else { return };
    let url = "s3://no-such-bucket/p";
    refused_quickly(
        url,
        &options(&moto.endpoint),
        &["NoSuchBucket"],
        Duration::from_secs(10),
    );
}

#[test]
fn a_url_that_is_not_s3_is_refused() {
    for url in ["http://b/p", "s3://", "b/p"] {
        let err = BufferingStore::open_s3(url, &S3Options::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{url}: {err}");
    }
}
