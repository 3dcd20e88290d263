// The C++ side of the Rust function table (vgi_ffi.h): the table handed over
// at LOAD, and Rust's errors raised as DuckDB exceptions.
#pragma once

#include "duckdb.hpp"

#include "vgi_ffi.h"

namespace vgi {

using namespace duckdb;

//! Empty when `api` has the version and size this shim was built for (its
//! other fields are not read); otherwise the error that fails the LOAD,
//! naming both.
string ApiMismatch(const VgiApi &api);

//! The Rust side, set by vgi_bridge_init.
const VgiApi &Api();
//! Sets the table Api() returns (the same one on every LOAD: Rust's static
//! table of this library).
void SetApi(const VgiApi *api);

//! Copies a string Rust lent.
inline string ToString(VgiStr s) {
	return string(s.ptr, s.len);
}

//! Raises a DuckDB error naming the function and phase, from a Rust error
//! (which it frees).
[[noreturn]] void ThrowRustError(const string &function, const char *phase, char *error);
//! Like ThrowRustError, but an interrupted query reports DuckDB's own interrupt.
[[noreturn]] void ThrowPhaseError(ClientContext &context, const string &function, const char *phase, char *error);

} // namespace vgi
