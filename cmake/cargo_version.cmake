# vgi_cargo_version(OUT CARGO_TOML): the `version = "..."` of a crate's
# [package] section, or of a workspace's [workspace.package] (the first such
# line of the file).
function(vgi_cargo_version OUT CARGO_TOML)
    file(STRINGS ${CARGO_TOML} _line REGEX "^version = \"[^\"]+\"" LIMIT_COUNT 1)
    if(NOT _line MATCHES "^version = \"([^\"]+)\"")
        message(FATAL_ERROR "no version line in ${CARGO_TOML}")
    endif()
    set(${OUT} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()
