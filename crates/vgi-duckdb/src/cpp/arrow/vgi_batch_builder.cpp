#include "arrow/vgi_batch_builder.hpp"

#include "arrow/vgi_arrow.hpp"

namespace vgi {

//===--------------------------------------------------------------------===//
// BufferPool
//===--------------------------------------------------------------------===//
BufferPool::BufferPool(idx_t limit_p) : limit(limit_p) {
}

ArrowBuffer BufferPool::Take() {
	lock_guard<mutex> guard(lock);
	if (free.empty()) {
		return ArrowBuffer();
	}
	auto buffer = std::move(free.back());
	free.pop_back();
	return buffer;
}

void BufferPool::Give(ArrowBuffer buffer) {
	buffer.resize(0);
	lock_guard<mutex> guard(lock);
	if (free.size() < limit) {
		free.push_back(std::move(buffer));
	}
}

//===--------------------------------------------------------------------===//
// FixedWidthColumn
//===--------------------------------------------------------------------===//
FixedWidthColumn::FixedWidthColumn(BufferPool &pool, idx_t width_p, idx_t capacity)
    : width(width_p), data(pool.Take()), validity(pool.Take()), buffers {nullptr, nullptr} {
	data.reserve(width * capacity);
}

void FixedWidthColumn::Recycle(BufferPool &pool) {
	pool.Give(std::move(data));
	pool.Give(std::move(validity));
}

bool FixedWidthColumn::Supports(const LogicalType &type) {
	// The types DuckDB's ArrowAppender copies value by value without conversion.
	switch (type.id()) {
	case LogicalTypeId::TINYINT:
	case LogicalTypeId::SMALLINT:
	case LogicalTypeId::INTEGER:
	case LogicalTypeId::BIGINT:
	case LogicalTypeId::HUGEINT:
	case LogicalTypeId::UTINYINT:
	case LogicalTypeId::USMALLINT:
	case LogicalTypeId::UINTEGER:
	case LogicalTypeId::UBIGINT:
	case LogicalTypeId::UHUGEINT:
	case LogicalTypeId::FLOAT:
	case LogicalTypeId::DOUBLE:
	case LogicalTypeId::DATE:
	case LogicalTypeId::TIME:
	case LogicalTypeId::TIME_NS:
	case LogicalTypeId::TIMESTAMP_SEC:
	case LogicalTypeId::TIMESTAMP_MS:
	case LogicalTypeId::TIMESTAMP:
	case LogicalTypeId::TIMESTAMP_NS:
	case LogicalTypeId::TIMESTAMP_TZ:
	case LogicalTypeId::TIMESTAMP_TZ_NS:
		return true;
	default:
		return false;
	}
}

template <class T>
static void Gather(const UnifiedVectorFormat &format, idx_t count, data_ptr_t target) {
	auto source = reinterpret_cast<const T *>(format.data);
	auto result = reinterpret_cast<T *>(target);
	for (idx_t i = 0; i < count; i++) {
		result[i] = source[format.sel->get_index(i)];
	}
}

void FixedWidthColumn::Append(Vector &input, idx_t count) {
	UnifiedVectorFormat format;
	input.ToUnifiedFormat(format);
	data.resize((rows + count) * width);
	auto target = data.data() + rows * width;
	if (input.GetVectorType() == VectorType::FLAT_VECTOR) {
		memcpy(target, format.data, count * width);
	} else {
		switch (width) {
		case 1:
			Gather<uint8_t>(format, count, target);
			break;
		case 2:
			Gather<uint16_t>(format, count, target);
			break;
		case 4:
			Gather<uint32_t>(format, count, target);
			break;
		case 8:
			Gather<uint64_t>(format, count, target);
			break;
		case 16:
			Gather<hugeint_t>(format, count, target);
			break;
		default:
			throw InternalException("vgi: no fixed-width copy for %llu-byte values", width);
		}
	}
	if (!format.validity.CannotHaveNull() || validity.size() > 0) {
		// Bits past the last row stay set, so growing only appends all-valid bytes.
		auto bytes = (rows + count + 7) / 8;
		if (validity.size() == 0 && rows > 0) {
			validity.resize((rows + 7) / 8, 0xFF);
		}
		validity.resize(bytes, 0xFF);
		auto bits = validity.data();
		for (idx_t i = 0; i < count; i++) {
			if (!format.validity.RowIsValid(format.sel->get_index(i))) {
				auto row = rows + i;
				bits[row / 8] &= static_cast<uint8_t>(~(1u << (row % 8)));
				null_count++;
			}
		}
	}
	rows += count;
}

idx_t FixedWidthColumn::Bytes() const {
	return data.size() + validity.size();
}

//===--------------------------------------------------------------------===//
// The finished batch: a struct array over fixed-width and appended columns
//===--------------------------------------------------------------------===//
//! Owns a finished batch's memory. The batch and each fixed-width child hold
//! one reference each, so a consumer that moves a child out (the Arrow C
//! Data Interface allows it) keeps that child's buffers alive after the
//! batch is released. The appender's children are DuckDB's own, each
//! releasable on its own.
struct BatchArrays {
	~BatchArrays() {
		// Its children were released (or moved out) already.
		if (appended.release) {
			appended.release(&appended);
		}
		for (auto &column : fixed) {
			column->Recycle(*pool);
		}
	}
	shared_ptr<BufferPool> pool;
	vector<unique_ptr<FixedWidthColumn>> fixed;
	vector<ArrowArray> fixed_arrays;
	//! The appender's struct array, whose children this batch lists.
	ArrowArray appended;
	vector<ArrowArray *> children;
	const void *buffers[1] = {nullptr};
};

//! The private data of the batch and of each fixed-width child: a reference.
using BatchReference = shared_ptr<BatchArrays>;

static void ReleaseFixedChild(ArrowArray *array) {
	if (!array || !array->release) {
		return;
	}
	delete static_cast<BatchReference *>(array->private_data);
	array->release = nullptr;
}

static void ReleaseBatch(ArrowArray *array) {
	if (!array || !array->release) {
		return;
	}
	for (int64_t i = 0; i < array->n_children; i++) {
		auto child = array->children[i];
		if (child->release) {
			child->release(child);
		}
	}
	delete static_cast<BatchReference *>(array->private_data);
	array->release = nullptr;
}

void FixedWidthColumn::Describe(ArrowArray &out) {
	buffers[0] = validity.size() > 0 ? validity.data() : nullptr;
	buffers[1] = data.data();
	out.length = NumericCast<int64_t>(rows);
	out.null_count = NumericCast<int64_t>(null_count);
	out.offset = 0;
	out.n_buffers = 2;
	out.n_children = 0;
	out.buffers = buffers;
	out.children = nullptr;
	out.dictionary = nullptr;
	out.private_data = nullptr;
	out.release = nullptr;
}

//===--------------------------------------------------------------------===//
// ArrowBatchBuilder
//===--------------------------------------------------------------------===//
ArrowBatchBuilder::ArrowBatchBuilder(ClientContext &context, vector<LogicalType> types_p, idx_t capacity_p)
    : properties(ArrowProperties(context)), types(std::move(types_p)), capacity(capacity_p),
      pool(nullptr) {
	for (auto &type : types) {
		auto supported = FixedWidthColumn::Supports(type);
		is_fixed.push_back(supported);
		if (supported) {
			column_index.push_back(fixed.size());
			fixed.push_back(nullptr);
		} else {
			column_index.push_back(appended_types.size());
			appended_types.push_back(type);
		}
	}
	// Data and validity of each fixed-width column of one batch.
	pool = make_shared_ptr<BufferPool>(2 * fixed.size());
	if (!appended_types.empty()) {
		appended.InitializeEmpty(appended_types);
	}
}

void ArrowBatchBuilder::Start() {
	for (idx_t i = 0; i < types.size(); i++) {
		if (is_fixed[i]) {
			fixed[column_index[i]] = make_uniq<FixedWidthColumn>(*pool, GetTypeIdSize(types[i].InternalType()), capacity);
		}
	}
	if (!appended_types.empty()) {
		unordered_map<idx_t, const shared_ptr<ArrowTypeExtensionData>> no_extension_casts;
		appender = make_uniq<ArrowAppender>(appended_types, capacity, properties, no_extension_casts);
	}
}

void ArrowBatchBuilder::Append(DataChunk &chunk) {
	if (rows == 0) {
		Start();
	}
	auto count = chunk.size();
	for (idx_t i = 0; i < types.size(); i++) {
		if (is_fixed[i]) {
			fixed[column_index[i]]->Append(chunk.data[i], count);
		} else {
			appended.data[column_index[i]].Reference(chunk.data[i]);
		}
	}
	if (appender) {
		appended.SetCardinalityUnsafe(count);
		appender->Append(appended, 0, count, count);
	}
	rows += count;
}

idx_t ArrowBatchBuilder::Rows() const {
	return rows;
}

idx_t ArrowBatchBuilder::Bytes() const {
	idx_t bytes = appender ? appender->ByteSize() : 0;
	for (auto &column : fixed) {
		bytes += column ? column->Bytes() : 0;
	}
	return bytes;
}

void ArrowBatchBuilder::Finish(ArrowArray &out) {
	auto holder = make_shared_ptr<BatchArrays>();
	holder->pool = pool;
	holder->appended.release = nullptr;
	if (appender) {
		holder->appended = appender->Finalize();
		appender.reset();
	}
	holder->fixed_arrays.resize(fixed.size());
	for (idx_t i = 0; i < fixed.size(); i++) {
		fixed[i]->Describe(holder->fixed_arrays[i]);
		holder->fixed.push_back(std::move(fixed[i]));
	}
	for (idx_t i = 0; i < types.size(); i++) {
		holder->children.push_back(is_fixed[i] ? &holder->fixed_arrays[column_index[i]]
		                                       : holder->appended.children[column_index[i]]);
	}
	out.length = NumericCast<int64_t>(rows);
	out.null_count = 0;
	out.offset = 0;
	out.n_buffers = 1;
	out.n_children = NumericCast<int64_t>(types.size());
	out.buffers = holder->buffers;
	out.children = holder->children.data();
	out.dictionary = nullptr;
	for (auto &child : holder->fixed_arrays) {
		child.private_data = new BatchReference(holder);
		child.release = ReleaseFixedChild;
	}
	out.private_data = new BatchReference(std::move(holder));
	out.release = ReleaseBatch;
	rows = 0;
}

} // namespace vgi
