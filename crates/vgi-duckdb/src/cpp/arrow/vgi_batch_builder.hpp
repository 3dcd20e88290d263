// Gathers DuckDB chunks into one Arrow struct array for a function's process().
#pragma once

#include "duckdb.hpp"
#include "duckdb/common/arrow/arrow.hpp"
#include "duckdb/common/arrow/arrow_appender.hpp"
#include "duckdb/common/arrow/arrow_buffer.hpp"

namespace vgi {

using namespace duckdb;

//! Buffers of finished batches, handed back when the function releases the
//! batch so that the next batch reuses their memory instead of faulting in
//! fresh pages (which costs more than the copy itself). It keeps at most
//! `limit` (one batch's buffers): batches a function held (the store's memory
//! tier) are released later, all at once, and their memory must go back.
class BufferPool {
public:
	explicit BufferPool(idx_t limit);
	ArrowBuffer Take();
	void Give(ArrowBuffer buffer);

private:
	idx_t limit;
	mutex lock;
	vector<ArrowBuffer> free;
};

//! One fixed-width column (integers, floats, dates, times, timestamps) in
//! Arrow layout: DuckDB stores these exactly as Arrow does, so flat vectors
//! are appended with one memcpy instead of DuckDB's per-value conversion.
class FixedWidthColumn {
public:
	FixedWidthColumn(BufferPool &pool, idx_t width, idx_t capacity);
	//! Whether `type` is stored the same in DuckDB vectors and Arrow arrays.
	static bool Supports(const LogicalType &type);
	void Append(Vector &input, idx_t count);
	idx_t Bytes() const;
	//! Describes the column as an Arrow array; the buffers stay owned here.
	void Describe(ArrowArray &out);
	//! Hands the buffers back to `pool`.
	void Recycle(BufferPool &pool);

private:
	idx_t width;
	idx_t rows = 0;
	idx_t null_count = 0;
	ArrowBuffer data;
	//! Empty until the first NULL: Arrow allows no validity buffer.
	ArrowBuffer validity;
	const void *buffers[2];
};

//! Gathers DuckDB chunks into one Arrow struct array, so that `process`
//! sees batches larger than DuckDB's vectors. Fixed-width columns are copied
//! by FixedWidthColumn, every other column by DuckDB's ArrowAppender.
class ArrowBatchBuilder {
public:
	ArrowBatchBuilder(ClientContext &context, vector<LogicalType> types, idx_t capacity);
	void Append(DataChunk &chunk);
	idx_t Rows() const;
	idx_t Bytes() const;
	//! Moves the gathered rows out and starts an empty batch.
	void Finish(ArrowArray &out);

private:
	void Start();

	ClientProperties properties;
	vector<LogicalType> types;
	idx_t capacity;
	idx_t rows = 0;
	//! Per column: its index in `fixed` or in the appender's columns.
	vector<bool> is_fixed;
	vector<idx_t> column_index;
	vector<LogicalType> appended_types;
	vector<unique_ptr<FixedWidthColumn>> fixed;
	unique_ptr<ArrowAppender> appender;
	DataChunk appended;
	shared_ptr<BufferPool> pool;
};

} // namespace vgi
