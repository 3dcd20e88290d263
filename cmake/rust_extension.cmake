# vgi_rust_loadable_extension(NAME PACKAGE LIBRARY TARGET_DIR
#                             [TARGET target] [OUTPUT_DIR dir])
#
# Inside DuckDB's CMake build (the directory of an extension that
# extension_config.cmake loads): defines <NAME>_loadable_extension, which
# builds the cdylib package PACKAGE of the vgi cargo workspace (the
# Cargo.toml beside this folder) with cargo into TARGET_DIR (the bridge's
# build.rs compiles the C++ half against the same DuckDB release and links
# DuckDB statically), copies lib<LIBRARY>.so to
# extension/<NAME>/<NAME>.duckdb_extension and appends DuckDB's metadata
# footer with DuckDB's own scripts/append_metadata.cmake: ABI type CPP, this
# build's DuckDB version and platform, and the extension version that
# duckdb_extension_load was given. Cargo decides what to rebuild; the target
# always runs it. TARGET and OUTPUT_DIR make a second extension file of the
# same NAME from another package (the tests' one, with the fixtures); every
# package builds in the one TARGET_DIR, as each has a library name of its own.
get_filename_component(VGI_WORKSPACE_DIR ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

function(vgi_rust_loadable_extension NAME PACKAGE LIBRARY TARGET_DIR)
    cmake_parse_arguments(PARSE_ARGV 4 _arg "" "TARGET;OUTPUT_DIR" "")
    string(TOUPPER ${NAME} _upper)
    set(_version "${DUCKDB_EXTENSION_${_upper}_EXT_VERSION}")
    set(_target ${NAME}_loadable_extension)
    if(_arg_TARGET)
        set(_target ${_arg_TARGET})
    endif()
    set(_out_dir ${CMAKE_BINARY_DIR}/extension/${NAME})
    if(_arg_OUTPUT_DIR)
        set(_out_dir ${_arg_OUTPUT_DIR})
    endif()
    set(_out ${_out_dir}/${NAME}.duckdb_extension)
    if(NOT VGI_CARGO)
        find_program(VGI_CARGO cargo REQUIRED)
    endif()
    # DuckDB's release as the footer states it, and as build.rs links it.
    string(REGEX REPLACE "^v" "" _duckdb_release "${DUCKDB_NORMALIZED_VERSION}")
    add_custom_target(${_target}
        COMMAND ${CMAKE_COMMAND} -E env
            CARGO_TARGET_DIR=${TARGET_DIR}
            VGI_DUCKDB_VERSION=${_duckdb_release}
            ${VGI_CARGO} build --release --lib --locked --ignore-rust-version
            --manifest-path ${VGI_WORKSPACE_DIR}/Cargo.toml -p ${PACKAGE}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${_out_dir}
        COMMAND ${CMAKE_COMMAND} -E copy ${TARGET_DIR}/release/lib${LIBRARY}.so ${_out}.tmp
        COMMAND ${CMAKE_COMMAND}
            -DABI_TYPE=CPP
            -DEXTENSION=${_out}.tmp
            -DPLATFORM_FILE=${DuckDB_BINARY_DIR}/duckdb_platform_out
            -DVERSION_FIELD=${DUCKDB_NORMALIZED_VERSION}
            -DEXTENSION_VERSION=${_version}
            -DNULL_FILE=${DUCKDB_MODULE_BASE_DIR}/scripts/null.txt
            -P ${DUCKDB_MODULE_BASE_DIR}/scripts/append_metadata.cmake
        COMMAND ${CMAKE_COMMAND} -E rename ${_out}.tmp ${_out}
        USES_TERMINAL
        VERBATIM
    )
    add_dependencies(${_target} duckdb_platform)
endfunction()
