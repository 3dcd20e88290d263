#include "function/vgi_s3_secret.hpp"

#include "duckdb/catalog/catalog_transaction.hpp"
#include "duckdb/main/extension/extension_loader.hpp"
#include "duckdb/main/secret/secret.hpp"
#include "duckdb/main/secret/secret_manager.hpp"

namespace vgi {

static constexpr const char *SECRET_TYPE = "s3";
static constexpr const char *PROVIDER = "config";

//! The parameters of httpfs's `config` provider that object storage uses,
//! with their types; the same names so that users' httpfs SQL works.
static const std::pair<const char *, LogicalTypeId> PARAMETERS[] = {
    {"key_id", LogicalTypeId::VARCHAR},   {"secret", LogicalTypeId::VARCHAR},
    {"region", LogicalTypeId::VARCHAR},   {"session_token", LogicalTypeId::VARCHAR},
    {"endpoint", LogicalTypeId::VARCHAR}, {"url_style", LogicalTypeId::VARCHAR},
    {"use_ssl", LogicalTypeId::BOOLEAN},  {"url_compatibility_mode", LogicalTypeId::BOOLEAN},
};

//! CREATE SECRET (TYPE s3, PROVIDER config, ...): a key/value secret over
//! s3://, s3a:// and s3n:// unless a SCOPE is given.
static unique_ptr<BaseSecret> CreateS3Secret(ClientContext &, CreateSecretInput &input) {
	auto scope = input.scope;
	if (scope.empty()) {
		scope = {"s3://", "s3a://", "s3n://"};
	}
	auto secret = make_uniq<KeyValueSecret>(scope, input.type, input.provider, input.name);
	for (auto &parameter : PARAMETERS) {
		secret->TrySetValue(Identifier(parameter.first), input);
	}
	Value style;
	if (secret->TryGetValue(Identifier("url_style"), style) && !style.IsNull()) {
		auto text = StringUtil::Lower(style.ToString());
		if (text != "path" && text != "vhost") {
			throw InvalidInputException("CREATE SECRET (TYPE s3): URL_STYLE must be 'path' or 'vhost', got '%s'",
			                            style.ToString());
		}
	}
	secret->redact_keys = {Identifier("secret"), Identifier("session_token")};
	return std::move(secret);
}

void RegisterS3SecretType(ExtensionLoader &loader) {
	auto &manager = SecretManager::Get(loader.GetDatabaseInstance());
	for (auto &type : manager.AllSecretTypes()) {
		if (type.name == Identifier(SECRET_TYPE)) {
			return;
		}
	}
	SecretType type;
	type.name = Identifier(SECRET_TYPE);
	type.deserializer = KeyValueSecret::Deserialize<KeyValueSecret>;
	type.default_provider = PROVIDER;
	type.extension = "vgi";
	loader.RegisterSecretType(type);

	CreateSecretFunction function;
	function.secret_type = SECRET_TYPE;
	function.provider = Identifier(PROVIDER);
	function.function = CreateS3Secret;
	for (auto &parameter : PARAMETERS) {
		function.named_parameters[parameter.first] = LogicalType(parameter.second);
	}
	loader.RegisterFunction(function);
}

vector<std::pair<string, string>> LookupS3Secret(ClientContext &context, const string &url) {
	vector<std::pair<string, string>> result;
	auto &manager = SecretManager::Get(context);
	auto match = manager.LookupSecret(CatalogTransaction::GetSystemCatalogTransaction(context), url, SECRET_TYPE);
	if (!match.HasMatch()) {
		return result;
	}
	auto &secret = match.GetSecret();
	auto key_value = dynamic_cast<const KeyValueSecret *>(&secret);
	if (!key_value) {
		throw InvalidInputException("secret '%s' of type s3 holds no key/value pairs",
		                            secret.GetName().GetIdentifierName());
	}
	for (auto &parameter : PARAMETERS) {
		Value value;
		if (key_value->TryGetValue(Identifier(parameter.first), value) && !value.IsNull()) {
			result.emplace_back(parameter.first, value.ToString());
		}
	}
	result.emplace_back("name", secret.GetName().GetIdentifierName());
	return result;
}

} // namespace vgi
