//! The S3 store configured from the `AWS_*` environment variables, against
//! a real moto server. A test binary of its own: it sets this process's
//! environment, which no other test may read meanwhile.
#![cfg(feature = "object-store")]

#[path = "support/moto.rs"]
mod moto;

use vgi::store::{BufferingStore, S3Options};

#[test]
fn the_store_opens_from_the_aws_environment_variables() {
    let Some(moto) = moto::Moto::start(&[]) else {
        return;
    };
    moto.create_bucket("vgi-env");
    let url = "s3://vgi-env/p";
    let from_env = S3Options {
        from_env: true,
        ..S3Options::default()
    };
    // Only this test runs in this binary, so no thread reads the environment now.
    std::env::set_var("AWS_ENDPOINT", &moto.endpoint);
    std::env::set_var("AWS_ALLOW_HTTP", "true");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let store = BufferingStore::open_s3(url, &from_env).unwrap();
    store.kv_put(b"e", b"k", b"v").unwrap();
    assert_eq!(store.kv_get(b"e", b"k").unwrap().unwrap(), b"v");
    store.clear(b"e").unwrap();
}
