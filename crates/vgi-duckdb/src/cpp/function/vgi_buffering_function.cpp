#include "function/vgi_buffering_function.hpp"

#include "duckdb/main/settings.hpp"
#include "duckdb/planner/expression/bound_columnref_expression.hpp"
#include "duckdb/planner/expression_iterator.hpp"
#include "duckdb/storage/buffer_manager.hpp"

#include "arrow/vgi_arrow.hpp"
#include "function/vgi_bind_data.hpp"
#include "function/vgi_s3_secret.hpp"
#include "operator/logical_vgi_buffering.hpp"
#include "vgi_api.hpp"

namespace vgi {

//! Where remote execution keeps its state (an s3:// URL).
static constexpr const char *STORE_URL_SETTING = "vgi_store_url";

//! The parameters of one function as DuckDB sees them.
struct Parameter {
	string name;
	uint32_t kind;
	LogicalType type;
	Value default_value;
	bool has_default;
};

struct VgiFunctionInfo : public TableFunctionInfo {
	VgiFunctionInfo(shared_ptr<VgiRegistryHandle> registry_p, const VgiFunction *function_p, string name_p,
	                uint32_t flags_p, vector<Parameter> parameters_p)
	    : registry(std::move(registry_p)), function(function_p), name(std::move(name_p)), flags(flags_p),
	      parameters(std::move(parameters_p)) {
	}
	//! The registry `function` belongs to (this database's).
	shared_ptr<VgiRegistryHandle> registry;
	const VgiFunction *function;
	string name;
	uint32_t flags;
	vector<Parameter> parameters;
};

static vector<Parameter> ReadParameters(DatabaseInstance &db, const VgiFunction *fn, const string &name) {
	ArrowSchemaWrapper schema;
	ArrowArrayWrapper defaults;
	char *error = nullptr;
	if (Api().function_param_schema(fn, &schema.arrow_schema, &defaults.arrow_array, &error) != 0) {
		ThrowRustError(name, "describe", error);
	}
	auto declared = ImportRow(db, schema, defaults);
	vector<Parameter> parameters;
	for (idx_t i = 0; i < Api().function_param_count(fn); i++) {
		Parameter param;
		param.name = ToString(Api().function_param_name(fn, i));
		param.kind = Api().function_param_kind(fn, i);
		param.type = param.kind == VGI_PARAM_TABLE ? LogicalType(LogicalType::TABLE) : declared.types[i];
		param.default_value = declared.values[i];
		param.has_default = !param.default_value.IsNull();
		parameters.push_back(std::move(param));
	}
	return parameters;
}

//! Collects the constant arguments of a call, one value per non-TABLE parameter.
static void CollectArguments(const VgiFunctionInfo &info, TableFunctionBindInput &input, vector<LogicalType> &types,
                             vector<string> &names, vector<Value> &values) {
	idx_t position = 0;
	for (auto &param : info.parameters) {
		switch (param.kind) {
		case VGI_PARAM_TABLE:
			position++;
			break;
		case VGI_PARAM_POSITIONAL:
			types.push_back(param.type);
			names.push_back(param.name);
			values.push_back(input.inputs[position++].DefaultCastAs(param.type));
			break;
		case VGI_PARAM_NAMED: {
			types.push_back(param.type);
			names.push_back(param.name);
			auto entry = input.named_parameters.find(Identifier(param.name));
			values.push_back(entry == input.named_parameters.end() ? param.default_value
			                                                         : entry->second.DefaultCastAs(param.type));
			break;
		}
		case VGI_PARAM_VARARGS: {
			vector<Value> rest;
			while (position < input.inputs.size()) {
				rest.push_back(input.inputs[position++].DefaultCastAs(param.type));
			}
			types.push_back(LogicalType::LIST(param.type));
			names.push_back(param.name);
			values.push_back(Value::LIST(param.type, std::move(rest)));
			break;
		}
		default:
			throw InternalException("%s: unknown parameter kind", info.name);
		}
	}
}

//! Whether a plan reads columns of an enclosing query (a correlated LATERAL
//! input), which a buffering operator cannot run once per outer row.
static bool IsCorrelated(LogicalOperator &op) {
	bool correlated = false;
	for (auto &expr : op.expressions) {
		ExpressionIterator::EnumerateExpression(expr, [&](Expression &child) {
			if (child.GetExpressionClass() == ExpressionClass::BOUND_COLUMN_REF &&
			    child.Cast<BoundColumnRefExpression>().Depth() > 0) {
				correlated = true;
			}
		});
	}
	for (auto &child : op.children) {
		correlated = correlated || IsCorrelated(*child);
	}
	return correlated;
}

static unique_ptr<LogicalOperator> BindBuffering(ClientContext &context, TableFunctionBindInput &input,
                                                 TableIndex bind_index, vector<Identifier> &return_names) {
	auto &info = input.info->Cast<VgiFunctionInfo>();
	if (!input.input_plan || !*input.input_plan) {
		throw BinderException("%s: requires a subquery as its TABLE argument, e.g. %s((SELECT * FROM t))",
		                      info.name, info.name);
	}
	if (IsCorrelated(**input.input_plan)) {
		throw BinderException("%s: the TABLE argument cannot reference columns of an outer query (a correlated "
		                      "LATERAL input); buffer a join instead",
		                      info.name);
	}
	vector<string> input_names;
	for (auto &name : input.input_table_names) {
		input_names.push_back(name.GetIdentifierName());
	}
	// Owned by wrappers from the start: whatever throws before Rust takes
	// them over (an argument that does not cast, a setting) releases them.
	ArrowSchemaWrapper input_schema;
	ExportSchema(context, input.input_table_types, input_names, input_schema.arrow_schema);

	vector<LogicalType> arg_types;
	vector<string> arg_names;
	vector<Value> arg_values;
	CollectArguments(info, input, arg_types, arg_names, arg_values);
	ArrowSchemaWrapper args_schema;
	ArrowArrayWrapper args;
	ExportRow(context, arg_types, arg_names, arg_values, args_schema.arrow_schema, args.arrow_array);

	vector<LogicalType> setting_types;
	vector<Value> setting_values;
	auto &setting_names = info.registry->setting_names;
	for (auto &name : setting_names) {
		Value value;
		context.TryGetCurrentSetting(Identifier(name), value);
		setting_types.push_back(LogicalType::VARCHAR);
		setting_values.push_back(value.IsNull() ? Value(LogicalType::VARCHAR) : Value(value.ToString()));
	}
	// DuckDB's memory_limit in bytes, of which vgi_memory_budget may be a share.
	auto row_names = setting_names;
	row_names.push_back("memory_limit");
	setting_types.push_back(LogicalType::VARCHAR);
	setting_values.push_back(Value(std::to_string(BufferManager::GetBufferManager(context).GetMaxMemory())));
	// Remote execution's object storage: the s3 secret that matches it (none
	// is looked up in the sandbox, which refuses remote execution).
	Value store_url;
	if (Settings::Get<EnableExternalAccessSetting>(context) &&
	    context.TryGetCurrentSetting(Identifier(STORE_URL_SETTING), store_url) && !store_url.IsNull() &&
	    StringUtil::StartsWith(store_url.ToString(), "s3://")) {
		for (auto &entry : LookupS3Secret(context, store_url.ToString())) {
			row_names.push_back(S3_SECRET_COLUMN_PREFIX + entry.first);
			setting_types.push_back(LogicalType::VARCHAR);
			setting_values.push_back(Value(entry.second));
		}
	}
	ArrowSchemaWrapper settings_schema;
	ArrowArrayWrapper settings;
	ExportRow(context, setting_types, row_names, setting_values, settings_schema.arrow_schema,
	          settings.arrow_array);

	auto output_schema = make_uniq<ArrowSchemaWrapper>();
	char *error = nullptr;
	uint32_t flags = 0;
	if (!Settings::Get<EnableExternalAccessSetting>(context)) {
		flags |= VGI_EXECUTION_NO_EXTERNAL_ACCESS;
	}
	// Rust moves the five structs out (leaving them released) on every path.
	auto bound_call = Api().function_bind(info.function, flags, &input_schema.arrow_schema, &args_schema.arrow_schema,
	                       &args.arrow_array, &settings_schema.arrow_schema, &settings.arrow_array,
	                       &output_schema->arrow_schema, &error);
	if (!bound_call) {
		string message = error ? string(error) : string("unknown error");
		Api().error_free(error);
		throw BinderException("%s: %s", info.name, message);
	}
	ImportedSchema output;
	try {
		output = ImportSchema(context, output_schema->arrow_schema);
	} catch (...) {
		Api().bound_call_free(bound_call);
		throw;
	}
	if (output.types.empty()) {
		Api().bound_call_free(bound_call);
		throw BinderException("%s: on_bind returned a schema with no columns", info.name);
	}
	// Column aliases, f((...)) AS q(a, b), rename the leading columns; DuckDB
	// applies them itself only to table functions without bind_operator.
	auto &aliases = input.ref.column_name_alias;
	if (aliases.size() > output.names.size()) {
		Api().bound_call_free(bound_call);
		throw BinderException("%s: %d column aliases given, but the function returns %d columns", info.name,
		                      aliases.size(), output.names.size());
	}
	for (idx_t i = 0; i < output.names.size(); i++) {
		return_names.emplace_back(i < aliases.size() ? aliases[i] : Identifier(output.names[i]));
	}
	vector<LogicalType> types;
	try {
		types = RestoredTypes(context, output_schema->arrow_schema, output, input.input_table_types, input_names);
	} catch (...) {
		Api().bound_call_free(bound_call);
		throw;
	}
	auto bind_data = make_shared_ptr<VgiBindData>(info.function, info.name, info.flags, bound_call,
	                                              std::move(output_schema), std::move(output), std::move(types));

	auto op = make_uniq<LogicalVgiBuffering>(bind_index, std::move(bind_data));
	auto child = std::move(*input.input_plan);
	child->ResolveOperatorTypes();
	auto bindings = child->GetColumnBindings();
	for (idx_t i = 0; i < bindings.size(); i++) {
		op->expressions.push_back(make_uniq<BoundColumnRefExpression>(child->types[i], bindings[i]));
	}
	op->children.push_back(std::move(child));
	return std::move(op);
}

TableFunction MakeBufferingFunction(DatabaseInstance &db, const shared_ptr<VgiRegistryHandle> &registry,
                                    const VgiFunction *fn, FunctionDescription &description) {
	auto name = ToString(Api().function_name(fn));
	auto flags = Api().function_flags(fn);
	auto parameters = ReadParameters(db, fn, name);

	FunctionSignature signature;
	for (auto &param : parameters) {
		switch (param.kind) {
		case VGI_PARAM_TABLE:
		case VGI_PARAM_POSITIONAL:
			signature.AddPositionalOnly(Identifier(param.name), param.type);
			break;
		case VGI_PARAM_NAMED:
			// Named arguments are optional: absent ones take their default (or NULL).
			signature.AddKeywordOnly(Identifier(param.name), param.type, param.default_value);
			break;
		case VGI_PARAM_VARARGS:
			signature.AddArgs(Identifier(param.name), param.type);
			break;
		}
		description.parameter_names.push_back(param.name);
		description.parameter_types.push_back(param.type);
	}
	TableFunction function(Identifier(name), signature, nullptr, nullptr);
	function.bind_operator = BindBuffering;
	function.function_info = make_shared_ptr<VgiFunctionInfo>(registry, fn, name, flags, std::move(parameters));

	description.description = ToString(Api().function_description(fn));
	for (idx_t i = 0; i < Api().function_example_count(fn); i++) {
		description.examples.push_back(ToString(Api().function_example(fn, i)));
	}
	return function;
}

} // namespace vgi
