// The C ABI between the C++ operator and the Rust SDK.
//
// Rust implements the functions of `VgiApi` (crates/vgi-duckdb/src/ffi.rs); C++
// implements `vgi_bridge_init`. Arrow data crosses through the Arrow C
// Data Interface. A function that can fail returns a non-zero status and
// stores a message in `*error` (allocated by Rust, released with
// `error_free`). Rust never unwinds into C++: panics are caught and
// reported as errors.
//
// Version. Both halves are compiled from this tree, but separately (Rust by
// cargo, this shim by build.rs), so the table carries the version and size
// Rust built it with and vgi_bridge_init refuses, before anything else, a
// table whose version or size differs from the shim's (the LOAD fails with
// both named). Raise VGI_FFI_VERSION with any change to VgiApi or to a type
// or flag it passes, here and in ffi.rs; a unit test checks that they agree.
//
// Naming. The types of this ABI have the same name on both sides: `VgiApi`,
// `VgiStr`, and the opaque handles `Vgi<Rust type>`: VgiRegistry (Rust
// `Registry`), VgiFunction (`RegisteredFunction`), VgiBoundCall
// (`Arc<BoundCall>`), VgiExecution (`Execution`), VgiProducer (`Producer`),
// VgiInPlace (`InPlace`);
// ffi.rs declares each handle as an alias of that name. A function of the
// table is `<handle>_<verb>`, named for the handle it takes first
// (`function_bind` binds a VgiFunction into a VgiBoundCall,
// `bound_call_start` starts a VgiExecution of it), and the Rust function
// behind it has the same name. The C++ classes around the handles are named
// for what they are on the DuckDB side, always with the Vgi prefix and never
// a Rust type's name: VgiRegistryHandle owns a VgiRegistry, VgiBindData (what
// binding produced, shared by the logical and physical plans) a
// VgiBoundCall, VgiExecutionHandle a VgiExecution.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "duckdb/common/arrow/arrow.hpp"

//! The version of this ABI (ffi.rs: `VGI_FFI_VERSION`).
#define VGI_FFI_VERSION 3

extern "C" {

typedef struct VgiRegistry VgiRegistry;
typedef struct VgiFunction VgiFunction;
typedef struct VgiBoundCall VgiBoundCall;
typedef struct VgiExecution VgiExecution;
typedef struct VgiProducer VgiProducer;
typedef struct VgiInPlace VgiInPlace;

//! One input column of a chunk handed over in place: a flat vector's values
//! (`width` bytes each) and validity words (null: no NULL), borrowed for one
//! call; `data` null for a column of a type not handed over.
typedef struct {
	const void *data;
	const uint64_t *validity;
	uint64_t width;
} VgiColumn;

//! A borrowed UTF-8 string (not NUL-terminated).
typedef struct {
	const char *ptr;
	size_t len;
} VgiStr;

enum VgiFunctionFlags : uint32_t {
	VGI_SINK_ORDER_DEPENDENT = 1u << 0,
	VGI_SOURCE_ORDER_DEPENDENT = 1u << 1,
	VGI_REQUIRES_INPUT_BATCH_INDEX = 1u << 2,
	VGI_PROJECTION_PUSHDOWN = 1u << 3,
};

enum VgiExecutionFlags : uint32_t {
	//! Record lifecycle events (DuckDB logs at DEBUG level).
	VGI_EXECUTION_DEBUG_LOGS = 1u << 0,
	//! enable_external_access is false: start no process but the vgi-worker
	//! beside the extension.
	VGI_EXECUTION_NO_EXTERNAL_ACCESS = 1u << 1,
};

enum VgiParamKind : uint32_t {
	VGI_PARAM_TABLE = 0,
	VGI_PARAM_POSITIONAL = 1,
	VGI_PARAM_NAMED = 2,
	VGI_PARAM_VARARGS = 3,
};

//! The Rust functions the C++ side calls, handed over at load time (so the
//! extension exports no symbol but its entry point).
struct VgiApi {
	// These two come first in every version, so that any table can be checked.
	//! The VGI_FFI_VERSION Rust implements.
	uint32_t version;
	//! sizeof(VgiApi) on the Rust side.
	size_t size;

	// Registry: the functions one extension registers.
	size_t (*registry_len)(const VgiRegistry *registry);
	const VgiFunction *(*registry_get)(const VgiRegistry *registry, size_t index);
	//! Frees a registry given to vgi_bridge_init (once, when its database closes).
	void (*registry_free)(VgiRegistry *registry);
	// The DuckDB settings the extension declares.
	size_t (*registry_setting_count)(const VgiRegistry *registry);
	VgiStr (*registry_setting_name)(const VgiRegistry *registry, size_t index);
	VgiStr (*registry_setting_description)(const VgiRegistry *registry, size_t index);
	//! One field per setting (its type) and a one-row array of their defaults.
	int (*registry_setting_defaults)(const VgiRegistry *registry, ArrowSchema *out, ArrowArray *out_defaults,
	                                 char **error);
	void (*error_free)(char *error);
	//! Removes orphaned state older than `ttl_seconds`, reported as a struct
	//! array (execution_id, age_seconds, bytes, error) with its schema.
	int (*registry_store_gc)(const VgiRegistry *registry, int64_t ttl_seconds, ArrowSchema *out_schema,
	                         ArrowArray *out, char **error);

	// Function description, read at load time.
	VgiStr (*function_name)(const VgiFunction *fn);
	VgiStr (*function_description)(const VgiFunction *fn);
	size_t (*function_example_count)(const VgiFunction *fn);
	VgiStr (*function_example)(const VgiFunction *fn, size_t index);
	uint32_t (*function_flags)(const VgiFunction *fn);
	size_t (*function_param_count)(const VgiFunction *fn);
	VgiStr (*function_param_name)(const VgiFunction *fn, size_t index);
	uint32_t (*function_param_kind)(const VgiFunction *fn, size_t index);
	//! Exports one field per parameter (a TABLE parameter as type null); the
	//! caller owns `*out`. Fields whose parameter has a default carry it in
	//! `*out_defaults` (a struct array of one row, same fields; the caller owns
	//! it), absent defaults are NULL there.
	int (*function_param_schema)(const VgiFunction *fn, ArrowSchema *out, ArrowArray *out_defaults, char **error);

	// Bind: the input table's schema and the constant arguments (a struct array
	// of one row whose fields are named after the parameters) are moved in; the
	// output schema is exported into `*out_schema`.
	//! The current values of the declared settings come in as a one-row array
	//! of VARCHAR columns named after them.
	//! `flags` (VgiExecutionFlags): whether external access is disabled.
	VgiBoundCall *(*function_bind)(const VgiFunction *fn, uint32_t flags, ArrowSchema *input_schema,
	                               ArrowSchema *args_schema, ArrowArray *args, ArrowSchema *settings_schema,
	                               ArrowArray *settings, ArrowSchema *out_schema, char **error);
	void (*bound_call_free)(VgiBoundCall *bound_call);
	//! Bytes the memory tier may hold (vgi_memory_budget at bind), which is
	//! also how much freed batch memory the bridge keeps for reuse.
	size_t (*bound_call_memory_budget)(const VgiBoundCall *bound_call);

	// One execution of a bound call (one query's sink and source).
	//! `flags` (VgiExecutionFlags): record lifecycle events, whether external
	//! access is disabled; `interrupted(context)` tells whether the query was
	//! interrupted (called until execution_end, never after).
	//! `projection` (length `projection_len`, null: all columns) lists the
	//! output columns the query reads.
	VgiExecution *(*bound_call_start)(const VgiBoundCall *bound_call, uint32_t flags, void *context,
	                                  int (*interrupted)(void *context), const size_t *projection,
	                                  size_t projection_len, char **error);
	//! Sink one input batch (a struct array, moved in). `batch_index` < 0: none.
	int (*execution_process)(VgiExecution *execution, ArrowArray *batch, int64_t batch_index, char **error);
	//! Runs `combine` once over every state id; returns the number of finalize ids.
	int (*execution_combine)(VgiExecution *execution, size_t *finalize_count, char **error);
	//! Opens the producer of finalize id number `index`.
	VgiProducer *(*execution_finalize)(VgiExecution *execution, size_t index, char **error);
	//! Removes the execution's state from the store and frees it.
	void (*execution_end)(VgiExecution *execution);
	// In-place sinking (one per sinking thread): instead of process batches,
	// the thread's chunks go to the function's in-place sink, whose state id
	// joins process's at finish.
	//! `*out` = the function's in-place sink, or null when it has none here
	//! (worker processes, or the function reads Arrow batches).
	int (*execution_in_place_start)(VgiExecution *execution, VgiInPlace **out, char **error);
	//! Sinks one chunk of `rows` rows: `columns` has one entry per input column.
	int (*execution_in_place_sink)(VgiExecution *execution, VgiInPlace *sink, const VgiColumn *columns,
	                               size_t column_count, size_t rows, char **error);
	//! Ends the sink (freed, also on error) and records its state id.
	int (*execution_in_place_finish)(VgiExecution *execution, VgiInPlace *sink, char **error);
	//! Frees a sink that will not be finished (the query failed).
	void (*in_place_free)(VgiInPlace *sink);
	//! The next queued log line (release with error_free) and its level in
	//! `*level` (0 DEBUG, 1 INFO), or null when none is queued.
	char *(*execution_next_log)(VgiExecution *execution, int *level);

	//! Next output batch: 1 = `*out` holds a struct array (caller owns it),
	//! 0 = exhausted, -1 = error.
	int (*producer_next)(VgiProducer *producer, ArrowArray *out, char **error);
	void (*producer_free)(VgiProducer *producer);
};

// Implemented in C++: checks `api`'s version and size, then registers the
// registry's functions with DuckDB, which owns the registry from then on
// (freed with registry_free, also when this fails; but for a table of another
// version or size, of which nothing can be called: its registry is not
// freed). Throws a DuckDB exception on failure (called through Rust's
// "C-unwind" ABI).
void vgi_bridge_init(void *extension_loader, const VgiApi *api, VgiRegistry *registry, const char *load_error);
}
