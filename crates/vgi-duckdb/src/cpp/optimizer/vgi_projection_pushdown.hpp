// Projection pushdown into buffering calls (see vgi_projection_pushdown.cpp).
#pragma once

#include "duckdb.hpp"

namespace vgi {
void RegisterProjectionPushdown(duckdb::DatabaseInstance &db);
} // namespace vgi
