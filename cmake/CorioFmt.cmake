# corio_fmt: the fmt library for demos, tests and benchmarks (never for the
# library itself or its public headers). On Linux the Debian package; when
# cross-compiling for Windows or linking statically (Debian ships no libfmt.a),
# the same headers used header-only.
add_library(corio_fmt INTERFACE)
if(CMAKE_CROSSCOMPILING OR CORIO_STATIC_BINARIES)
  # Copy only fmt's headers, so the host's /usr/include never leaks into a
  # cross build.
  find_path(CORIO_FMT_HOST_DIR NAMES fmt/format.h PATHS /usr/include NO_CMAKE_FIND_ROOT_PATH REQUIRED)
  file(COPY ${CORIO_FMT_HOST_DIR}/fmt DESTINATION ${PROJECT_BINARY_DIR}/fmt-include)
  target_include_directories(corio_fmt SYSTEM INTERFACE ${PROJECT_BINARY_DIR}/fmt-include)
  target_compile_definitions(corio_fmt INTERFACE FMT_HEADER_ONLY)
else()
  find_package(fmt REQUIRED)
  target_link_libraries(corio_fmt INTERFACE fmt::fmt)
endif()
