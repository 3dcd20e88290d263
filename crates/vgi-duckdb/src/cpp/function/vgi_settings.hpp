// The DuckDB settings a registry declares.
#pragma once

#include "duckdb.hpp"

#include "vgi_registry_handle.hpp"

namespace vgi {

using namespace duckdb;

//! Registers the registry's settings with their types and defaults (the
//! first extension on this bridge to declare one wins) and records their
//! names in `handle` for bind.
void RegisterSettings(DatabaseInstance &db, VgiRegistryHandle &handle);

} // namespace vgi
