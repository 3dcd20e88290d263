// The entry point C++ offers Rust (vgi_bridge_init): registers one
// registry's functions, settings and the operator's extensions with the
// database that LOADs it.
#include "duckdb.hpp"
#include "duckdb/main/extension/extension_loader.hpp"
#include "duckdb/parser/parsed_data/create_table_function_info.hpp"

#include "function/vgi_buffering_function.hpp"
#include "function/vgi_s3_secret.hpp"
#include "function/vgi_settings.hpp"
#include "function/vgi_store_gc.hpp"
#include "operator/vgi_operator_extension.hpp"
#include "optimizer/vgi_projection_pushdown.hpp"
#include "vgi_api.hpp"
#include "vgi_registry_handle.hpp"

extern "C" void vgi_bridge_init(void *extension_loader, const VgiApi *api, VgiRegistry *registry,
                                const char *load_error) {
	using namespace duckdb;
	auto mismatch = vgi::ApiMismatch(*api);
	if (!mismatch.empty()) {
		// Nothing of a table of another layout can be called, registry_free
		// neither: the registry is left as it is.
		throw InvalidInputException(mismatch);
	}
	vgi::SetApi(api);
	// Owned from here on: freed with the last function of this database, or
	// right away when loading fails.
	auto handle = make_shared_ptr<vgi::VgiRegistryHandle>(registry);
	if (load_error) {
		throw IOException("vgi: %s", load_error);
	}
	auto &loader = *static_cast<ExtensionLoader *>(extension_loader);
	auto &db = loader.GetDatabaseInstance();
	vgi::RegisterProjectionPushdown(db);
	vgi::RegisterOperatorExtension(db);
	vgi::RegisterSettings(db, *handle);
	vgi::RegisterStoreGc(loader, handle);
	vgi::RegisterS3SecretType(loader);
	for (idx_t i = 0; i < api->registry_len(registry); i++) {
		FunctionDescription description;
		auto function = vgi::MakeBufferingFunction(db, handle, api->registry_get(registry, i), description);
		CreateTableFunctionInfo info(std::move(function));
		info.descriptions.push_back(std::move(description));
		loader.RegisterFunction(std::move(info));
	}
}
