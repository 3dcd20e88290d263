#include "function/vgi_settings.hpp"

#include "duckdb/main/settings.hpp"

#include "arrow/vgi_arrow.hpp"
#include "vgi_api.hpp"

namespace vgi {

//! The setting that names a program to start (subprocess execution).
static constexpr const char *WORKER_COMMAND_SETTING = "vgi_worker_command";

//! SET vgi_worker_command: refused (but for RESET or an empty value, which
//! mean the vgi-worker beside the extension) while external access is
//! disabled, as it would start another program.
static void CheckWorkerCommand(ClientContext &context, SetScope, Value &parameter) {
	if (Settings::Get<EnableExternalAccessSetting>(context) || parameter.IsNull()) {
		return;
	}
	auto command = parameter.ToString();
	StringUtil::Trim(command);
	if (command.empty()) {
		return;
	}
	throw PermissionException("%s cannot be changed while enable_external_access is false: it names a program "
	                          "to start, and only the vgi-worker beside the extension may run",
	                          WORKER_COMMAND_SETTING);
}

//! Registers the extension's settings with their types and defaults.
void RegisterSettings(DatabaseInstance &db, VgiRegistryHandle &handle) {
	auto registry = handle.registry;
	ArrowSchemaWrapper schema;
	ArrowArrayWrapper defaults;
	char *error = nullptr;
	if (Api().registry_setting_defaults(registry, &schema.arrow_schema, &defaults.arrow_array, &error) != 0) {
		ThrowRustError("vgi", "settings", error);
	}
	auto declared = ImportRow(db, schema, defaults);
	auto &config = DBConfig::GetConfig(db);
	for (idx_t i = 0; i < Api().registry_setting_count(registry); i++) {
		auto name = ToString(Api().registry_setting_name(registry, i));
		auto description = ToString(Api().registry_setting_description(registry, i));
		// Extensions on this bridge share its settings (vgi_orphan_ttl_seconds): first one wins.
		if (!config.HasExtensionOption(Identifier(name))) {
			auto check = name == WORKER_COMMAND_SETTING ? CheckWorkerCommand : nullptr;
			config.AddExtensionOption(Identifier(name), description, declared.types[i], declared.values[i], check);
		}
		handle.setting_names.push_back(name);
	}
}

} // namespace vgi
