#include "vgi_api.hpp"

namespace vgi {

//! The same table on every LOAD (Rust's static API of this library).
static atomic<const VgiApi *> api {nullptr};

string ApiMismatch(const VgiApi &api) {
	if (api.version == VGI_FFI_VERSION && api.size == sizeof(VgiApi)) {
		return string();
	}
	return StringUtil::Format("vgi: FFI mismatch: C++ shim built for version %llu (size %llu), Rust for version %llu "
	                          "(size %llu)",
	                          static_cast<uint64_t>(VGI_FFI_VERSION), static_cast<uint64_t>(sizeof(VgiApi)),
	                          static_cast<uint64_t>(api.version), static_cast<uint64_t>(api.size));
}

const VgiApi &Api() {
	return *api.load(std::memory_order_acquire);
}

void SetApi(const VgiApi *api_p) {
	api.store(api_p, std::memory_order_release);
}

void ThrowRustError(const string &function, const char *phase, char *error) {
	string message = error ? string(error) : string("unknown error");
	Api().error_free(error);
	throw InvalidInputException("%s: %s failed: %s", function, phase, message);
}

void ThrowPhaseError(ClientContext &context, const string &function, const char *phase, char *error) {
	if (context.IsInterrupted()) {
		Api().error_free(error);
		throw InterruptException();
	}
	ThrowRustError(function, phase, error);
}

} // namespace vgi
