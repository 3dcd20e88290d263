# DuckDB's extension configuration for this repository, DuckDB's convention:
# DuckDB's CMake build reads it through -DDUCKDB_EXTENSION_CONFIGS=<this file>
# (scripts/configure-extensions.sh) and adds each SOURCE_DIR below, whose
# CMakeLists.txt builds the extension with cargo and lets DuckDB's own
# scripts/append_metadata.cmake write its footer. Versions come from the
# Cargo.toml files: vgi's from the workspace's [workspace.package], topk's
# from its own [package].
include(${CMAKE_CURRENT_LIST_DIR}/cmake/cargo_version.cmake)

vgi_cargo_version(_vgi_version ${CMAKE_CURRENT_LIST_DIR}/Cargo.toml)
duckdb_extension_load(vgi
    SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}
    EXTENSION_VERSION v${_vgi_version}
)

vgi_cargo_version(_topk_version ${CMAKE_CURRENT_LIST_DIR}/examples/topk/Cargo.toml)
duckdb_extension_load(topk
    SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/examples/topk
    EXTENSION_VERSION v${_topk_version}
)
