// Gathers DuckDB chunks into one Arrow struct array for a function's process().
#pragma once

#include "duckdb.hpp"
#include "duckdb/common/arrow/arrow.hpp"
#include "duckdb/common/arrow/arrow_appender.hpp"
#include "arrow/vgi_buffer_pool.hpp"

namespace vgi {

using namespace duckdb;

//! A column the bridge copies into Arrow layout itself, in BufferPool
//! memory. Its Arrow array describes buffers that stay owned here.
class PooledColumn {
public:
	virtual ~PooledColumn() = default;
	virtual void Append(Vector &input, idx_t count) = 0;
	virtual idx_t Bytes() const = 0;
	//! Describes the column as an Arrow array (no release, no private data).
	virtual void Describe(ArrowArray &out) = 0;
	//! Whether the bridge copies `type` itself (else DuckDB's ArrowAppender).
	static bool Supports(const LogicalType &type);
	//! A column for `type`, or null when DuckDB's ArrowAppender must copy it.
	static unique_ptr<PooledColumn> Create(const LogicalType &type, idx_t capacity);

protected:
	//! Marks the NULLs of `format`'s first `count` rows, appended after `rows`.
	void AppendValidity(const UnifiedVectorFormat &format, idx_t count);

	idx_t rows = 0;
	idx_t null_count = 0;
	//! Empty until the first NULL: Arrow allows no validity buffer.
	PooledBuffer validity;
};

//! One fixed-width column (integers, floats, dates, times, timestamps):
//! DuckDB stores these exactly as Arrow does, so flat vectors are appended
//! with one memcpy instead of DuckDB's per-value conversion.
class FixedWidthColumn : public PooledColumn {
public:
	FixedWidthColumn(idx_t width, idx_t capacity);
	//! Whether `type` is stored the same in DuckDB vectors and Arrow arrays.
	static bool Supports(const LogicalType &type);
	void Append(Vector &input, idx_t count) override;
	idx_t Bytes() const override;
	void Describe(ArrowArray &out) override;

private:
	idx_t width;
	PooledBuffer data;
	const void *buffers[2];
};

//! One VARCHAR or BLOB column as Arrow utf8 or binary (32-bit offsets, the
//! layout of the bridge's Arrow properties).
class StringColumn : public PooledColumn {
public:
	explicit StringColumn(idx_t capacity);
	static bool Supports(const LogicalType &type);
	void Append(Vector &input, idx_t count) override;
	idx_t Bytes() const override;
	void Describe(ArrowArray &out) override;

private:
	PooledBuffer offsets;
	PooledBuffer data;
	const void *buffers[3];
};

//! Gathers DuckDB chunks into one Arrow struct array, so that `process`
//! sees batches larger than DuckDB's vectors. Fixed-width and string columns
//! are copied by PooledColumns, every other column by DuckDB's ArrowAppender.
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
	//! Per column: its index in `pooled` or in the appender's columns.
	vector<bool> is_pooled;
	vector<idx_t> column_index;
	vector<LogicalType> appended_types;
	vector<unique_ptr<PooledColumn>> pooled;
	unique_ptr<ArrowAppender> appender;
	DataChunk appended;
};

} // namespace vgi
