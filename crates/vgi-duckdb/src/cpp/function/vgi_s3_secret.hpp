// The `s3` secret type (CREATE SECRET (TYPE s3, ...)) and its lookup for the
// object storage of remote execution (vgi_store_url).
#pragma once

#include "duckdb.hpp"

namespace duckdb {
class ExtensionLoader;
}

namespace vgi {

using namespace duckdb;

//! The prefix of the settings-row columns that carry the matched secret to
//! Rust (`s3_secret.key_id`, ..., `s3_secret.name`); Rust strips them before
//! anything reaches a function or a worker.
static constexpr const char *S3_SECRET_COLUMN_PREFIX = "s3_secret.";

//! Registers secret type `s3` with provider `config` (httpfs's parameters)
//! unless the database already has one (httpfs loaded first).
void RegisterS3SecretType(ExtensionLoader &loader);

//! The secret of type `s3` whose scope best matches `url`, as (key, value)
//! pairs with `name` last; empty when none matches.
vector<std::pair<string, string>> LookupS3Secret(ClientContext &context, const string &url);

} // namespace vgi
