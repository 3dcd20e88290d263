#include "arrow/vgi_arrow.hpp"

#include "duckdb/common/arrow/arrow_converter.hpp"

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

void ArrowBatchReader::Emit(const ImportedSchema &schema, DataChunk &out, const vector<idx_t> &columns) {
	state->column_ids.assign(columns.begin(), columns.end());
	auto count = MinValue<idx_t>(STANDARD_VECTOR_SIZE, length - state->chunk_offset);
	out.Reset();
	out.SetCardinalityUnsafe(count);
	if (count > 0) {
		ArrowTableFunction::ArrowToDuckDB(*state, schema.table.GetColumns(), out);
	}
	state->chunk_offset += count;
}

} // namespace vgi
