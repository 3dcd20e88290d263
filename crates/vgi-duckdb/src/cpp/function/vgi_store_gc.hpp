// The vgi_store_gc() table function (see vgi_store_gc.cpp).
#pragma once

#include "duckdb.hpp"
#include "vgi_registry_handle.hpp"

namespace duckdb {
class ExtensionLoader;
}

namespace vgi {
void RegisterStoreGc(duckdb::ExtensionLoader &loader, duckdb::shared_ptr<VgiRegistryHandle> registry);
} // namespace vgi
