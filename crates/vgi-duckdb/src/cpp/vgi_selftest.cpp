// Checks of the C++ half that need DuckDB but no query, called by the Rust
// unit tests (crates/vgi-duckdb/src/ffi.rs). Nothing else calls them.
#include "duckdb.hpp"

#include <set>

#include "arrow/vgi_arrow.hpp"
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

//! A struct array of one utf8 child built by hand, so that its layout can
//! be what no builder of ours makes: an array offset, NULL rows whose
//! offsets span bytes, short strings at the very end of the data buffer.
struct HandMadeStrings {
	vector<int32_t> offsets;
	string data;
	vector<uint8_t> validity;
	const void *child_buffers[3];
	const void *parent_buffers[1] = {nullptr};
	ArrowArray child;
	ArrowArray *children[1];

	static void ReleaseChild(ArrowArray *array) {
		array->release = nullptr;
	}
	static void ReleaseParent(ArrowArray *array) {
		delete static_cast<HandMadeStrings *>(array->private_data);
		array->release = nullptr;
	}
};

//! `rows` rows after `skip` rows the array's offset hides: lengths 0-20,
//! bytes from a linear congruential sequence (NUL bytes among them), every
//! 7th row NULL (every other such row spanning 5 bytes), the last 30 rows
//! 1-3 bytes long.
static ArrowArray HandMadeBatch(idx_t skip, idx_t rows) {
	auto holder = new HandMadeStrings();
	uint32_t seed = 12345;
	auto total = skip + rows;
	holder->offsets.push_back(0);
	holder->validity.assign((total + 7) / 8, 0xFF);
	idx_t null_count = 0;
	for (idx_t row = 0; row < total; row++) {
		auto null = row % 7 == 3;
		idx_t length = row + 30 >= total ? 1 + row % 3 : row % 21;
		if (null) {
			holder->validity[row / 8] &= static_cast<uint8_t>(~(1u << (row % 8)));
			null_count += row >= skip ? 1 : 0;
			length = row % 2 == 0 ? 5 : 0;
		}
		for (idx_t i = 0; i < length; i++) {
			seed = seed * 1103515245u + 12345u;
			holder->data.push_back(static_cast<char>(seed >> 24));
		}
		holder->offsets.push_back(NumericCast<int32_t>(holder->data.size()));
	}
	holder->child_buffers[0] = holder->validity.data();
	holder->child_buffers[1] = holder->offsets.data();
	holder->child_buffers[2] = holder->data.data();
	auto &child = holder->child;
	child.length = NumericCast<int64_t>(rows);
	child.null_count = NumericCast<int64_t>(null_count);
	child.offset = NumericCast<int64_t>(skip);
	child.n_buffers = 3;
	child.n_children = 0;
	child.buffers = holder->child_buffers;
	child.children = nullptr;
	child.dictionary = nullptr;
	child.private_data = nullptr;
	child.release = HandMadeStrings::ReleaseChild;
	holder->children[0] = &child;
	ArrowArray parent;
	parent.length = NumericCast<int64_t>(rows);
	parent.null_count = 0;
	parent.offset = 0;
	parent.n_buffers = 1;
	parent.n_children = 1;
	parent.buffers = holder->parent_buffers;
	parent.children = holder->children;
	parent.dictionary = nullptr;
	parent.private_data = holder;
	parent.release = HandMadeStrings::ReleaseParent;
	return parent;
}

//! Compares one chunk of the bridge's string import with DuckDB's: the
//! same NULLs, the same bytes, and the same 16-byte `string_t` for inlined
//! strings (their padding is zero in both).
static string CompareStrings(DataChunk &ours, DataChunk &duckdb, idx_t first_row) {
	if (ours.size() != duckdb.size()) {
		return StringUtil::Format("at row %llu: %llu rows, DuckDB %llu", first_row, ours.size(), duckdb.size());
	}
	auto &our_vector = ours.data[0];
	auto &their_vector = duckdb.data[0];
	auto our_strings = FlatVector::GetData<string_t>(our_vector);
	auto their_strings = FlatVector::GetData<string_t>(their_vector);
	for (idx_t i = 0; i < ours.size(); i++) {
		auto valid = FlatVector::Validity(our_vector).RowIsValid(i);
		if (valid != FlatVector::Validity(their_vector).RowIsValid(i)) {
			return StringUtil::Format("row %llu: NULL in one import only", first_row + i);
		}
		if (!valid) {
			continue;
		}
		auto &a = our_strings[i];
		auto &b = their_strings[i];
		if (a.GetSize() != b.GetSize() || memcmp(a.GetData(), b.GetData(), a.GetSize()) != 0) {
			return StringUtil::Format("row %llu: %llu bytes, DuckDB's %llu, or other bytes", first_row + i,
			                          a.GetSize(), b.GetSize());
		}
		if (a.IsInlined() && memcmp(&a, &b, sizeof(string_t)) != 0) {
			return StringUtil::Format("row %llu: the inlined string's padding differs", first_row + i);
		}
	}
	return string();
}

//! A self-check's result: 0 when `failure` is empty, else 1 with `failure`
//! written into `message`.
static int Report(const string &failure, char *message, size_t message_len) {
	if (failure.empty()) {
		return 0;
	}
	snprintf(message, message_len, "%s", failure.c_str());
	return 1;
}

//! Runs `check` (a failure, or empty) against a connection to a fresh
//! in-memory database; an exception is a failure too. Reports as Report.
template <class CHECK>
static int RunWithConnection(char *message, size_t message_len, CHECK check) {
	string failure;
	try {
		DuckDB db(nullptr);
		Connection connection(db);
		failure = check(*connection.context);
	} catch (std::exception &e) {
		failure = e.what();
	}
	return Report(failure, message, message_len);
}

} // namespace vgi

//! Moves both children out of a gathered batch, releases the batch, gathers
//! another one (which reuses released buffers) and checks that the moved
//! children still read their own rows. 0: they do; otherwise the failure is
//! written to `message`.
extern "C" int vgi_selftest_moved_child_outlives_batch(char *message, size_t message_len) {
	using namespace duckdb;
	return vgi::RunWithConnection(message, message_len, [](ClientContext &context) {
		vector<LogicalType> types {LogicalType::BIGINT, LogicalType::VARCHAR};
		vgi::ArrowBatchBuilder builder(context, types, 16);
		const idx_t rows = 4;
		auto first = vgi::GatherRows(builder, types, 1, rows, DConstants::INVALID_INDEX);
		ArrowArray numbers = *first.children[0];
		first.children[0]->release = nullptr;
		ArrowArray strings = *first.children[1];
		first.children[1]->release = nullptr;
		first.release(&first);
		// NULLs make the next batch write a validity buffer too.
		auto second = vgi::GatherRows(builder, types, 100, rows, 0);
		auto failure = vgi::CheckMovedChildren(numbers, strings, rows);
		second.release(&second);
		if (numbers.release) {
			numbers.release(&numbers);
		}
		if (strings.release) {
			strings.release(&strings);
		}
		return failure;
	});
}

//! Gathers and releases a batch of BIGINT and VARCHAR under a pool limit,
//! then checks that the next batch reuses the freed blocks, that the pool
//! never keeps more than its limit free, and that lowering the limit frees
//! the excess at once. 0: it does; otherwise the failure is in `message`.
extern "C" int vgi_selftest_pool_reuses_freed_blocks(char *message, size_t message_len) {
	using namespace duckdb;
	auto &pool = vgi::BufferPool::Get();
	auto status = vgi::RunWithConnection(message, message_len, [&pool](ClientContext &context) {
		string failure;
		vector<LogicalType> types {LogicalType::BIGINT, LogicalType::VARCHAR};
		// Blocks of this batch are far larger than the other self-checks',
		// which run concurrently and take the pool's small blocks.
		const idx_t capacity = 1 << 16;
		vgi::ArrowBatchBuilder builder(context, types, capacity);
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
		return failure;
	});
	pool.SetLimit(0);
	return status;
}

//! Imports hand-made utf8 batches (an array offset, NULLs, short strings at
//! the end of the data) with the bridge's reader and with DuckDB's own
//! conversion, chunk by chunk, and compares them. 0: the same; otherwise
//! the first difference is in `message`.
extern "C" int vgi_selftest_strings_import_as_duckdb_does(char *message, size_t message_len) {
	using namespace duckdb;
	return vgi::RunWithConnection(message, message_len, [](ClientContext &context) {
		string failure;
		vector<LogicalType> types {LogicalType::VARCHAR};
		ArrowSchema schema;
		vgi::ExportSchema(context, types, {"s"}, schema);
		auto imported = vgi::ImportSchema(context, schema);
		schema.release(&schema);
		for (auto skip : {idx_t(0), idx_t(3)}) {
			const idx_t rows = 5000;
			auto batch = vgi::HandMadeBatch(skip, rows);
			vgi::ArrowBatchReader reader(context, batch);
			auto wrapper = make_uniq<ArrowArrayWrapper>();
			wrapper->arrow_array = vgi::HandMadeBatch(skip, rows);
			ArrowScanLocalState reference(std::move(wrapper), context);
			DataChunk ours;
			ours.Initialize(context, types);
			DataChunk duckdb;
			duckdb.Initialize(context, types);
			idx_t row = 0;
			while (failure.empty() && !reader.Finished()) {
				reader.Emit(imported, ours);
				duckdb.Reset();
				duckdb.SetCardinalityUnsafe(ours.size());
				ArrowTableFunction::ArrowToDuckDB(reference, imported.table.GetColumns(), duckdb);
				reference.chunk_offset += ours.size();
				failure = vgi::CompareStrings(ours, duckdb, row);
				row += ours.size();
			}
			if (failure.empty() && row != rows) {
				failure = StringUtil::Format("offset %llu: %llu rows imported of %llu", skip, row, rows);
			}
		}
		return failure;
	});
}

//! The ABI this shim was built for: VGI_FFI_VERSION and sizeof(VgiApi).
extern "C" void vgi_selftest_ffi_layout(uint32_t *version, size_t *size) {
	*version = VGI_FFI_VERSION;
	*size = sizeof(VgiApi);
}

//! Runs vgi_bridge_init's check of `api` (only its version and size are
//! read). 0: it passes; otherwise the error is written to `message`.
extern "C" int vgi_selftest_ffi_check(const VgiApi *api, char *message, size_t message_len) {
	return vgi::Report(vgi::ApiMismatch(*api), message, message_len);
}
