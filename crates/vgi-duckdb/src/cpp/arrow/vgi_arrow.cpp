#include "arrow/vgi_arrow.hpp"

#include "duckdb/common/arrow/arrow_converter.hpp"
#include "duckdb/common/exception/conversion_exception.hpp"
#include "duckdb/function/table/arrow/arrow_type_info.hpp"

namespace vgi {

ClientProperties ArrowProperties(ClientContext &context) {
	auto props = context.GetClientProperties();
	props.arrow_offset_size = ArrowOffsetSize::REGULAR;
	props.arrow_use_list_view = false;
	props.produce_arrow_string_view = false;
	props.arrow_lossless_conversion = true;
	return props;
}

void ExportSchema(ClientContext &context, const vector<LogicalType> &types, const vector<string> &names,
                  ArrowSchema &out) {
	auto props = ArrowProperties(context);
	ArrowConverter::ToArrowSchema(&out, types, names, props);
}

void ExportChunk(ClientContext &context, DataChunk &chunk, ArrowArray &out) {
	unordered_map<idx_t, const shared_ptr<ArrowTypeExtensionData>> no_extension_casts;
	ArrowConverter::ToArrowArray(chunk, &out, ArrowProperties(context), no_extension_casts);
}

ImportedSchema ImportSchema(ClientContext &context, ArrowSchema &schema) {
	ImportedSchema result;
	ArrowTableFunction::PopulateArrowTableSchema(context, result.table, schema);
	result.types = result.table.GetTypes();
	result.names = result.table.GetNames();
	return result;
}

void ExportRow(ClientContext &context, const vector<LogicalType> &types, const vector<string> &names,
               const vector<Value> &values, ArrowSchema &out_schema, ArrowArray &out_array) {
	DataChunk row;
	if (!types.empty()) {
		row.Initialize(Allocator::DefaultAllocator(), types);
		for (idx_t i = 0; i < values.size(); i++) {
			row.data[i].SetValue(0, values[i]);
		}
	}
	row.SetCardinalityUnsafe(types.empty() ? 0 : 1);
	ExportSchema(context, types, names, out_schema);
	ExportChunk(context, row, out_array);
	if (types.empty()) {
		out_array.length = 1;
	}
}

ImportedRow ImportRow(DatabaseInstance &db, ArrowSchemaWrapper &schema, ArrowArrayWrapper &row) {
	// Arrow type import needs a client context; a short-lived connection
	// gives one at load time.
	Connection connection(db);
	auto &context = *connection.context;
	auto imported = ImportSchema(context, schema.arrow_schema);
	ImportedRow result;
	result.types = imported.types;
	if (imported.types.empty()) {
		return result;
	}
	DataChunk chunk;
	chunk.Initialize(Allocator::DefaultAllocator(), imported.types);
	ArrowBatchReader reader(context, row.arrow_array);
	reader.Emit(imported, chunk);
	for (idx_t i = 0; i < imported.types.size(); i++) {
		result.values.push_back(chunk.size() > 0 ? chunk.GetValue(i, 0) : Value(imported.types[i]));
	}
	return result;
}

ArrowBatchReader::ArrowBatchReader(ClientContext &context, ArrowArray &array) {
	auto wrapper = make_uniq<ArrowArrayWrapper>();
	wrapper->arrow_array = array;
	array.release = nullptr;
	length = NumericCast<idx_t>(wrapper->arrow_array.length);
	state = make_uniq<ArrowScanLocalState>(std::move(wrapper), context);
}

bool ArrowBatchReader::Finished() const {
	return state->chunk_offset >= length;
}

//! Whether DuckDB would convert the column with its per-row string loop
//! over 32-bit offsets (VARCHAR or BLOB from Arrow utf8/binary, the layout
//! the bridge's own batches have), which ImportStrings replaces.
static bool IsPlainString(const LogicalType &type, const ArrowType &arrow_type, const ArrowArray &array) {
	if (type.id() != LogicalTypeId::VARCHAR && type.id() != LogicalTypeId::BLOB) {
		return false;
	}
	if (arrow_type.HasExtension() || arrow_type.GetPhysicalType() != ArrowArrayPhysicalType::DEFAULT ||
	    array.dictionary) {
		return false;
	}
	return arrow_type.GetTypeInfo<ArrowStringInfo>().GetSizeType() == ArrowVariableSizeType::NORMAL;
}

template <class T>
static T LoadUnaligned(const void *pointer) {
	T value;
	memcpy(&value, pointer, sizeof(T));
	return value;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ImportStrings' masks keep a string's first bytes as the low bytes of a word: little-endian only"
#endif

//! Masks that keep the first `n` bytes of an inlined string's 12 bytes
//! (the low 8, then the high 4), for n = 0..12.
struct InlineMasks {
	uint64_t low[string_t::INLINE_LENGTH + 1];
	uint32_t high[string_t::INLINE_LENGTH + 1];
	InlineMasks() {
		for (idx_t n = 0; n <= string_t::INLINE_LENGTH; n++) {
			low[n] = n >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * n)) - 1;
			high[n] = n <= 8 ? 0 : n >= 12 ? ~uint32_t(0) : (uint32_t(1) << (8 * (n - 8))) - 1;
		}
	}
};
static const InlineMasks INLINE_MASKS;

//! `rows` strings of `array` from row `start` (the array's own offset
//! included) as DuckDB strings: what DuckDB's conversion yields, the same
//! checks, but an inlined string is built with fixed-size loads and masks
//! instead of a memset and a variable-length copy. Strings longer than the
//! inline length point into the array, which the reader keeps alive.
static void ImportStrings(Vector &vector, const ArrowArray &array, idx_t start, idx_t rows) {
	auto offsets = static_cast<const uint8_t *>(array.buffers[1]);
	auto data = static_cast<const char *>(array.buffers[2]);
	auto offset_at = [&](idx_t row) {
		return LoadUnaligned<int32_t>(offsets + row * sizeof(int32_t));
	};
	// Every byte up to the array's last offset is the array's: an inlined
	// string may be read as a whole inline field when that many bytes follow it.
	auto data_end = static_cast<uint64_t>(offset_at(NumericCast<idx_t>(array.offset + array.length)));
	auto strings = FlatVector::GetDataMutable<string_t>(vector);
	auto &validity = FlatVector::Validity(vector);
	auto all_valid = validity.CannotHaveNull();
	auto begin = offset_at(start);
	if (begin < 0) {
		throw ConversionException("Arrow string offsets must not be negative");
	}
	for (idx_t row = 0; row < rows; row++) {
		auto end = offset_at(start + row + 1);
		if (!all_valid && !validity.RowIsValid(row)) {
			begin = end;
			continue;
		}
		if (end < begin) {
			throw ConversionException("Arrow string offsets must be non-decreasing");
		}
		auto length = static_cast<uint64_t>(end - begin);
		auto source = data + begin;
		auto target = reinterpret_cast<char *>(&strings[row]);
		if (length <= string_t::INLINE_LENGTH && static_cast<uint64_t>(begin) + string_t::INLINE_LENGTH <= data_end) {
			auto size = static_cast<uint32_t>(length);
			auto low = LoadUnaligned<uint64_t>(source) & INLINE_MASKS.low[length];
			auto high = LoadUnaligned<uint32_t>(source + sizeof(uint64_t)) & INLINE_MASKS.high[length];
			memcpy(target, &size, sizeof(size));
			memcpy(target + sizeof(size), &low, sizeof(low));
			memcpy(target + sizeof(size) + sizeof(low), &high, sizeof(high));
		} else {
			strings[row] = string_t(source, static_cast<uint32_t>(length));
		}
		begin = end;
	}
}

//! DuckDB's ArrowTableFunction::ArrowToDuckDB for a projected batch (the
//! same calls, column by column), with plain string columns taken by
//! ImportStrings.
static void ConvertColumns(ArrowScanLocalState &state, const arrow_column_map_t &arrow_types, DataChunk &out) {
	auto &parent = state.chunk->arrow_array;
	for (idx_t idx = 0; idx < out.ColumnCount(); idx++) {
		auto column = state.column_ids.empty() ? idx : state.column_ids[idx];
		auto &array = *parent.children[idx];
		if (!array.release) {
			throw InvalidInputException("arrow_scan: released array passed");
		}
		if (array.length != parent.length) {
			throw InvalidInputException("arrow_scan: array length mismatch");
		}
		auto &arrow_type = *arrow_types.at(column);
		auto &array_state = state.GetState(column);
		if (!array_state.owned_data) {
			array_state.owned_data = state.chunk;
		}
		auto &vector = out.data[idx];
		switch (arrow_type.GetPhysicalType()) {
		case ArrowArrayPhysicalType::DICTIONARY_ENCODED:
			ArrowToDuckDBConversion::ColumnArrowToDuckDBDictionary(vector, array, state.chunk_offset, array_state,
			                                                       out.size(), arrow_type);
			break;
		case ArrowArrayPhysicalType::RUN_END_ENCODED:
			ArrowToDuckDBConversion::ColumnArrowToDuckDBRunEndEncoded(vector, array, state.chunk_offset, array_state,
			                                                          out.size(), arrow_type);
			break;
		case ArrowArrayPhysicalType::DEFAULT:
			ArrowToDuckDBConversion::SetValidityMask(vector, array, state.chunk_offset, out.size(), parent.offset, -1);
			if (IsPlainString(vector.GetType(), arrow_type, array)) {
				ImportStrings(vector, array, NumericCast<idx_t>(array.offset) + state.chunk_offset, out.size());
			} else {
				ArrowToDuckDBConversion::ColumnArrowToDuckDB(vector, array, state.chunk_offset, array_state,
				                                             out.size(), arrow_type);
			}
			break;
		default:
			throw NotImplementedException("ArrowArrayPhysicalType not recognized");
		}
		FlatVector::SetSize(vector, count_t(out.size()));
	}
}

void ArrowBatchReader::Emit(const ImportedSchema &schema, DataChunk &out, const vector<idx_t> &columns) {
	state->column_ids.assign(columns.begin(), columns.end());
	auto count = MinValue<idx_t>(STANDARD_VECTOR_SIZE, length - state->chunk_offset);
	out.Reset();
	out.SetCardinalityUnsafe(count);
	if (count > 0) {
		ConvertColumns(*state, schema.table.GetColumns(), out);
	}
	state->chunk_offset += count;
}

} // namespace vgi
