#include "function/vgi_bind_data.hpp"

#include "vgi_api.hpp"

namespace vgi {

VgiBindData::VgiBindData(const VgiFunction *function_p, string name_p, uint32_t flags_p, VgiBoundCall *bound_call_p,
                     unique_ptr<ArrowSchemaWrapper> output_schema_p, ImportedSchema output_p,
                     vector<LogicalType> types_p)
    : function(function_p), name(std::move(name_p)), flags(flags_p), bound_call(bound_call_p),
      output_schema(std::move(output_schema_p)), output(std::move(output_p)), types(std::move(types_p)) {
}

VgiBindData::~VgiBindData() {
	Api().bound_call_free(bound_call);
}

//! Whether two Arrow fields have the same type: format, children (with their
//! names) and dictionary.
static bool SameArrowType(const ArrowSchema &a, const ArrowSchema &b) {
	if (string(a.format) != string(b.format) || a.n_children != b.n_children ||
	    (a.dictionary == nullptr) != (b.dictionary == nullptr)) {
		return false;
	}
	for (int64_t i = 0; i < a.n_children; i++) {
		auto &x = *a.children[i];
		auto &y = *b.children[i];
		if (string(x.name ? x.name : "") != string(y.name ? y.name : "") || !SameArrowType(x, y)) {
			return false;
		}
	}
	return !a.dictionary || SameArrowType(*a.dictionary, *b.dictionary);
}

vector<LogicalType> RestoredTypes(ClientContext &context, const ArrowSchema &output_arrow,
                                  const ImportedSchema &output, const vector<LogicalType> &input_types,
                                  const vector<string> &input_names) {
	ArrowSchemaWrapper exported;
	ExportSchema(context, input_types, input_names, exported.arrow_schema);
	// What each input column's type becomes through Arrow.
	auto through_arrow = ImportSchema(context, exported.arrow_schema).types;
	auto types = output.types;
	if (NumericCast<idx_t>(output_arrow.n_children) != types.size()) {
		return types;
	}
	auto restorable = [&](idx_t output_column, idx_t input_column) {
		return input_column < input_types.size() && input_types[input_column] != through_arrow[input_column] &&
		       output.names[output_column] == input_names[input_column] &&
		       SameArrowType(*output_arrow.children[output_column], *exported.arrow_schema.children[input_column]);
	};
	for (idx_t i = 0; i < types.size(); i++) {
		// The input column at the same position first (names may repeat).
		if (restorable(i, i)) {
			types[i] = input_types[i];
			continue;
		}
		for (idx_t j = 0; j < input_types.size(); j++) {
			if (restorable(i, j)) {
				types[i] = input_types[j];
				break;
			}
		}
	}
	return types;
}

} // namespace vgi
