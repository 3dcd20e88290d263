// Checks of the C++ half that need DuckDB but no query, called by the Rust
// unit tests (crates/vgi-duckdb/src/ffi.rs). Nothing else calls them.
#include "duckdb.hpp"

#include <set>

#include "arrow/vgi_batch_builder.hpp"
#include "vgi_api.hpp"

namespace vgi {

//! A batch of `rows` rows: BIGINT base + i (NULL at `null_row`, if any), VARCHAR 'row <base + i>'.
static ArrowArray GatherRows(ArrowBatchBuilder &builder, const vector<LogicalType> &types, int64_t base,
                             idx_t rows, idx_t null_row) {
	DataChunk chunk;
	chunk.Initialize(Allocator::DefaultAllocator(), types);
	for (idx_t i = 0; i < rows; i++) {
		auto value = base + NumericCast<int64_t>(i);
		chunk.data[0].SetValue(i, i == null_row ? Value(LogicalType::BIGINT) : Value::BIGINT(value));
		chunk.data[1].SetValue(i, Value("row " + to_string(value)));
	}
	chunk.SetCardinalityUnsafe(rows);
	builder.Append(chunk);
	ArrowArray batch;
	builder.Finish(batch);
	return batch;
}

static string CheckMovedChildren(ArrowArray &numbers, ArrowArray &strings, idx_t rows) {
	if (!numbers.release || !strings.release) {
		return "a moved-out child has no release callback";
	}
	auto values = static_cast<const int64_t *>(numbers.buffers[1]);
	auto offsets = static_cast<const int32_t *>(strings.buffers[1]);
	auto text = static_cast<const char *>(strings.buffers[2]);
	for (idx_t i = 0; i < rows; i++) {
		auto expected = NumericCast<int64_t>(i + 1);
		if (values[i] != expected) {
			return StringUtil::Format("BIGINT child row %llu reads %lld, expected %lld", i, values[i], expected);
		}
		auto got = string(text + offsets[i], NumericCast<idx_t>(offsets[i + 1] - offsets[i]));
		if (got != "row " + to_string(expected)) {
			return StringUtil::Format("VARCHAR child row %llu reads '%s'", i, got);
		}
	}
	return string();
}

} // namespace vgi

//! Moves both children out of a gathered batch, releases the batch, gathers
//! another one (which reuses released buffers) and checks that the moved
//! children still read their own rows. 0: they do; otherwise the failure is
//! written to `message`.
extern "C" int vgi_selftest_moved_child_outlives_batch(char *message, size_t message_len) {
	using namespace duckdb;
	string failure;
	try {
		DuckDB db(nullptr);
		Connection connection(db);
		vector<LogicalType> types {LogicalType::BIGINT, LogicalType::VARCHAR};
		vgi::ArrowBatchBuilder builder(*connection.context, types, 16);
		const idx_t rows = 4;
		auto first = vgi::GatherRows(builder, types, 1, rows, DConstants::INVALID_INDEX);
		ArrowArray numbers = *first.children[0];
		first.children[0]->release = nullptr;
		ArrowArray strings = *first.children[1];
		first.children[1]->release = nullptr;
		first.release(&first);
		// NULLs make the next batch write a validity buffer too.
		auto second = vgi::GatherRows(builder, types, 100, rows, 0);
		failure = vgi::CheckMovedChildren(numbers, strings, rows);
		second.release(&second);
		if (numbers.release) {
			numbers.release(&numbers);
		}
		if (strings.release) {
			strings.release(&strings);
		}
	} catch (std::exception &e) {
		failure = e.what();
	}
	if (failure.empty()) {
		return 0;
	}
	snprintf(message, message_len, "%s", failure.c_str());
	return 1;
}

//! Gathers and releases a batch of BIGINT and VARCHAR under a pool limit,
//! then checks that the next batch reuses the freed blocks, that the pool
//! never keeps more than its limit free, and that lowering the limit frees
//! the excess at once. 0: it does; otherwise the failure is in `message`.
extern "C" int vgi_selftest_pool_reuses_freed_blocks(char *message, size_t message_len) {
	using namespace duckdb;
	string failure;
	auto &pool = vgi::BufferPool::Get();
	try {
		DuckDB db(nullptr);
		Connection connection(db);
		vector<LogicalType> types {LogicalType::BIGINT, LogicalType::VARCHAR};
		// Blocks of this batch are far larger than the other self-checks',
		// which run concurrently and take the pool's small blocks.
		const idx_t capacity = 1 << 16;
		vgi::ArrowBatchBuilder builder(*connection.context, types, capacity);
		pool.SetLimit(64ULL << 20);
		auto first = vgi::GatherRows(builder, types, 1, 4, DConstants::INVALID_INDEX);
		std::set<const void *> first_blocks {first.children[0]->buffers[1], first.children[1]->buffers[1],
		                                     first.children[1]->buffers[2]};
		auto before = pool.FreeBytes();
		first.release(&first);
		auto freed = pool.FreeBytes() - before;
		auto second = vgi::GatherRows(builder, types, 1, 4, DConstants::INVALID_INDEX);
		if (freed < capacity * sizeof(int64_t)) {
			failure = StringUtil::Format("releasing a batch gave back %llu bytes", freed);
		} else if (!first_blocks.count(second.children[0]->buffers[1]) ||
		           !first_blocks.count(second.children[1]->buffers[1]) ||
		           !first_blocks.count(second.children[1]->buffers[2])) {
			failure = "the next batch did not reuse the released batch's blocks";
		}
		second.release(&second);
		pool.SetLimit(1ULL << 20);
		if (failure.empty() && pool.FreeBytes() > (1ULL << 20)) {
			failure = StringUtil::Format("limit 1 MiB, but %llu bytes kept free", pool.FreeBytes());
		}
		pool.SetLimit(0);
		if (failure.empty() && pool.FreeBytes() != 0) {
			failure = StringUtil::Format("limit 0, but %llu bytes kept free", pool.FreeBytes());
		}
	} catch (std::exception &e) {
		failure = e.what();
	}
	pool.SetLimit(0);
	if (failure.empty()) {
		return 0;
	}
	snprintf(message, message_len, "%s", failure.c_str());
	return 1;
}

//! The ABI this shim was built for: VGI_FFI_VERSION and sizeof(VgiApi).
extern "C" void vgi_selftest_ffi_layout(uint32_t *version, size_t *size) {
	*version = VGI_FFI_VERSION;
	*size = sizeof(VgiApi);
}

//! Runs vgi_bridge_init's check of `api` (only its version and size are
//! read). 0: it passes; otherwise the error is written to `message`.
extern "C" int vgi_selftest_ffi_check(const VgiApi *api, char *message, size_t message_len) {
	auto mismatch = vgi::ApiMismatch(*api);
	if (mismatch.empty()) {
		return 0;
	}
	snprintf(message, message_len, "%s", mismatch.c_str());
	return 1;
}
