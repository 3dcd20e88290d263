//! The `s3` secret DuckDB matched to `vgi_store_url` at bind. C++ appends its
//! values to the settings row as `s3_secret.<key>` columns (httpfs's keys:
//! `key_id`, `secret`, `region`, `session_token`, `endpoint`, `url_style`,
//! `use_ssl`, `url_compatibility_mode`, and the secret's `name`); they are
//! split off here, before the settings reach a function or a worker.

use std::collections::BTreeMap;
use std::fmt;

use vgi::Settings;

/// The prefix of the secret's columns in the settings row.
const COLUMN_PREFIX: &str = "s3_secret.";

/// The values of one `s3` secret, by key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct S3Secret {
    values: BTreeMap<String, String>,
}

impl S3Secret {
    /// A value of the secret (`key_id`, `endpoint`, ...).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The secret's name, for errors.
    pub(crate) fn name(&self) -> &str {
        self.get("name").unwrap_or("")
    }
}

/// Names the keys it holds, never their values.
impl fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Secret")
            .field("name", &self.name())
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `settings` without the secret's columns, and the secret if C++ found one.
pub(crate) fn split_s3_secret(settings: Settings) -> (Settings, Option<S3Secret>) {
    let mut rest = Settings::new();
    let mut values = BTreeMap::new();
    for (name, value) in settings.iter() {
        match name.strip_prefix(COLUMN_PREFIX) {
            Some(key) => {
                values.insert(key.to_string(), value.to_string());
            }
            None => {
                rest.insert(name, value);
            }
        }
    }
    let secret = (!values.is_empty()).then_some(S3Secret { values });
    (rest, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_split_off_the_settings() {
        let settings = Settings::new()
            .with("vgi_store_url", "s3://b/p")
            .with("s3_secret.key_id", "AKIA")
            .with("s3_secret.secret", "hush")
            .with("s3_secret.name", "mine");
        let (rest, secret) = split_s3_secret(settings);
        assert_eq!(rest, Settings::new().with("vgi_store_url", "s3://b/p"));
        let secret = secret.expect("a secret");
        assert_eq!(secret.get("key_id"), Some("AKIA"));
        assert_eq!(secret.name(), "mine");
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("hush") && shown.contains("secret"),
            "{shown}"
        );
    }

    #[test]
    fn no_columns_no_secret() {
        let settings = Settings::new().with("vgi_execution", "remote");
        let (rest, secret) = split_s3_secret(settings.clone());
        assert_eq!(rest, settings);
        assert!(secret.is_none());
    }
}
