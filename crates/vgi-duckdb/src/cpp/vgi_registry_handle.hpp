// One database's Rust registry, as the C++ side holds it.
#pragma once

#include "duckdb.hpp"

#include "vgi_api.hpp"

namespace vgi {

//! One database's Rust registry: the functions registered in it and the
//! store info hold it, and the last of them (when the database closes)
//! frees it. Nothing of it is shared with another database.
struct VgiRegistryHandle {
	explicit VgiRegistryHandle(VgiRegistry *registry_p) : registry(registry_p) {
	}
	~VgiRegistryHandle() {
		Api().registry_free(registry);
	}
	VgiRegistryHandle(const VgiRegistryHandle &) = delete;
	VgiRegistryHandle &operator=(const VgiRegistryHandle &) = delete;

	VgiRegistry *registry;
	//! The names of the settings registered for it, read at bind.
	vector<string> setting_names;
};

} // namespace vgi
