#include "vgi_api.hpp"

namespace vgi {

//! The same table on every LOAD (Rust's static API of this library).
static atomic<const VgiApi *> api {nullptr};

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
