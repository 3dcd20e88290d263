#include "arrow/vgi_batch_builder.hpp"

#include "arrow/vgi_arrow.hpp"

namespace vgi {

//===--------------------------------------------------------------------===//
// PooledColumn
//===--------------------------------------------------------------------===//
bool PooledColumn::Supports(const LogicalType &type) {
	return FixedWidthColumn::Supports(type) || StringColumn::Supports(type);
}

unique_ptr<PooledColumn> PooledColumn::Create(const LogicalType &type, idx_t capacity) {
	if (FixedWidthColumn::Supports(type)) {
		return make_uniq<FixedWidthColumn>(GetTypeIdSize(type.InternalType()), capacity);
	}
	if (StringColumn::Supports(type)) {
		return make_uniq<StringColumn>(capacity);
	}
	return nullptr;
}

void PooledColumn::AppendValidity(const UnifiedVectorFormat &format, idx_t count) {
	if (format.validity.CannotHaveNull() && validity.Size() == 0) {
		return;
	}
	// Bits past the last row stay set, so growing only appends all-valid bytes.
	if (validity.Size() == 0 && rows > 0) {
		validity.Resize((rows + 7) / 8, 0xFF);
	}
	validity.Resize((rows + count + 7) / 8, 0xFF);
	auto bits = validity.Data();
	for (idx_t i = 0; i < count; i++) {
		if (!format.validity.RowIsValid(format.sel->get_index(i))) {
			auto row = rows + i;
			bits[row / 8] &= static_cast<uint8_t>(~(1u << (row % 8)));
			null_count++;
		}
	}
}

//===--------------------------------------------------------------------===//
// FixedWidthColumn
//===--------------------------------------------------------------------===//
FixedWidthColumn::FixedWidthColumn(idx_t width_p, idx_t capacity) : width(width_p), buffers {nullptr, nullptr} {
	data.Reserve(width * capacity);
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
	data.Resize((rows + count) * width);
	auto target = data.Data() + rows * width;
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
	AppendValidity(format, count);
	rows += count;
}

idx_t FixedWidthColumn::Bytes() const {
	return data.Size() + validity.Size();
}

static void DescribeColumn(ArrowArray &out, idx_t rows, idx_t null_count, int64_t n_buffers, const void **buffers) {
	out.length = NumericCast<int64_t>(rows);
	out.null_count = NumericCast<int64_t>(null_count);
	out.offset = 0;
	out.n_buffers = n_buffers;
	out.n_children = 0;
	out.buffers = buffers;
	out.children = nullptr;
	out.dictionary = nullptr;
	out.private_data = nullptr;
	out.release = nullptr;
}

void FixedWidthColumn::Describe(ArrowArray &out) {
	buffers[0] = validity.Size() > 0 ? validity.Data() : nullptr;
	buffers[1] = data.Data();
	DescribeColumn(out, rows, null_count, 2, buffers);
}

//===--------------------------------------------------------------------===//
// StringColumn
//===--------------------------------------------------------------------===//
//! A first guess of the bytes per string, so that most batches need no regrowth.
static constexpr idx_t STRING_BYTES_GUESS = 16;

StringColumn::StringColumn(idx_t capacity) : buffers {nullptr, nullptr, nullptr} {
	offsets.Reserve((capacity + 1) * sizeof(int32_t));
	offsets.Resize(sizeof(int32_t));
	memset(offsets.Data(), 0, sizeof(int32_t));
	data.Reserve(capacity * STRING_BYTES_GUESS);
}

bool StringColumn::Supports(const LogicalType &type) {
	// With the bridge's Arrow properties (regular offsets, no string views)
	// DuckDB exports both as a 32-bit offset buffer and a data buffer.
	return type.id() == LogicalTypeId::VARCHAR || type.id() == LogicalTypeId::BLOB;
}

//! Copies `count` strings after `position` and writes their end offsets.
//! An inlined string is copied as its whole inline field, a fixed-size copy
//! the compiler turns into two moves: the bytes past its end land in the
//! INLINE_LENGTH bytes of room the caller leaves, or are overwritten by the
//! next string. `ALL_VALID`: the vector has no NULLs, so no row is tested.
template <bool ALL_VALID>
static void CopyStrings(const UnifiedVectorFormat &format, const string_t *strings, idx_t count, data_ptr_t target,
                         idx_t position, int32_t *offset_data) {
	for (idx_t i = 0; i < count; i++) {
		auto index = format.sel->get_index(i);
		if (ALL_VALID || format.validity.RowIsValid(index)) {
			auto &value = strings[index];
			auto size = value.GetSize();
			if (value.IsInlined()) {
				memcpy(target + position, value.GetPrefix(), string_t::INLINE_LENGTH);
			} else {
				memcpy(target + position, value.GetData(), size);
			}
			position += size;
		}
		offset_data[i] = static_cast<int32_t>(position);
	}
}

void StringColumn::Append(Vector &input, idx_t count) {
	UnifiedVectorFormat format;
	input.ToUnifiedFormat(format);
	auto strings = UnifiedVectorFormat::GetData<string_t>(format);
	auto all_valid = format.validity.CannotHaveNull();
	idx_t added = 0;
	for (idx_t i = 0; i < count; i++) {
		auto index = format.sel->get_index(i);
		if (all_valid || format.validity.RowIsValid(index)) {
			added += strings[index].GetSize();
		}
	}
	auto start = data.Size();
	if (start + added > static_cast<idx_t>(NumericLimits<int32_t>::Maximum())) {
		throw InvalidInputException("vgi: the strings of one process batch exceed 2 GiB (%llu bytes); lower "
		                            "vgi_process_batch_rows",
		                            start + added);
	}
	data.Reserve(start + added + string_t::INLINE_LENGTH);
	data.Resize(start + added);
	offsets.Resize((rows + count + 1) * sizeof(int32_t));
	auto offset_data = reinterpret_cast<int32_t *>(offsets.Data()) + rows + 1;
	if (all_valid) {
		CopyStrings<true>(format, strings, count, data.Data(), start, offset_data);
	} else {
		CopyStrings<false>(format, strings, count, data.Data(), start, offset_data);
	}
	AppendValidity(format, count);
	rows += count;
}

idx_t StringColumn::Bytes() const {
	return offsets.Size() + data.Size() + validity.Size();
}

void StringColumn::Describe(ArrowArray &out) {
	buffers[0] = validity.Size() > 0 ? validity.Data() : nullptr;
	buffers[1] = offsets.Data();
	// Arrow wants a data buffer even when every string is empty.
	if (data.Size() == 0) {
		data.Reserve(1);
	}
	buffers[2] = data.Data();
	DescribeColumn(out, rows, null_count, 3, buffers);
}

//===--------------------------------------------------------------------===//
// The finished batch: a struct array over pooled and appended columns
//===--------------------------------------------------------------------===//
//! Owns a finished batch's memory. The batch and each pooled child hold one
//! reference each, so a consumer that moves a child out (the Arrow C Data
//! Interface allows it) keeps that child's buffers alive after the batch is
//! released. The appender's children are DuckDB's own, each releasable on
//! its own.
struct BatchArrays {
	~BatchArrays() {
		// Its children were released (or moved out) already.
		if (appended.release) {
			appended.release(&appended);
		}
	}
	//! Destroyed with the batch: their buffers go back to the BufferPool.
	vector<unique_ptr<PooledColumn>> pooled;
	vector<ArrowArray> pooled_arrays;
	//! The appender's struct array, whose children this batch lists.
	ArrowArray appended;
	vector<ArrowArray *> children;
	const void *buffers[1] = {nullptr};
};

//! The private data of the batch and of each pooled child: a reference.
using BatchReference = shared_ptr<BatchArrays>;

static void ReleasePooledChild(ArrowArray *array) {
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

//===--------------------------------------------------------------------===//
// ArrowBatchBuilder
//===--------------------------------------------------------------------===//
ArrowBatchBuilder::ArrowBatchBuilder(ClientContext &context, vector<LogicalType> types_p, idx_t capacity_p)
    : properties(ArrowProperties(context)), types(std::move(types_p)), capacity(capacity_p) {
	for (auto &type : types) {
		auto supported = PooledColumn::Supports(type);
		is_pooled.push_back(supported);
		if (supported) {
			column_index.push_back(pooled.size());
			pooled.push_back(nullptr);
		} else {
			column_index.push_back(appended_types.size());
			appended_types.push_back(type);
		}
	}
	if (!appended_types.empty()) {
		appended.InitializeEmpty(appended_types);
	}
}

void ArrowBatchBuilder::Start() {
	for (idx_t i = 0; i < types.size(); i++) {
		if (is_pooled[i]) {
			pooled[column_index[i]] = PooledColumn::Create(types[i], capacity);
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
		if (is_pooled[i]) {
			pooled[column_index[i]]->Append(chunk.data[i], count);
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
	for (auto &column : pooled) {
		bytes += column ? column->Bytes() : 0;
	}
	return bytes;
}

void ArrowBatchBuilder::Finish(ArrowArray &out) {
	auto holder = make_shared_ptr<BatchArrays>();
	holder->appended.release = nullptr;
	if (appender) {
		holder->appended = appender->Finalize();
		appender.reset();
	}
	holder->pooled_arrays.resize(pooled.size());
	for (idx_t i = 0; i < pooled.size(); i++) {
		pooled[i]->Describe(holder->pooled_arrays[i]);
		holder->pooled.push_back(std::move(pooled[i]));
	}
	for (idx_t i = 0; i < types.size(); i++) {
		holder->children.push_back(is_pooled[i] ? &holder->pooled_arrays[column_index[i]]
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
	for (auto &child : holder->pooled_arrays) {
		child.private_data = new BatchReference(holder);
		child.release = ReleasePooledChild;
	}
	out.private_data = new BatchReference(std::move(holder));
	out.release = ReleaseBatch;
	rows = 0;
}

} // namespace vgi
