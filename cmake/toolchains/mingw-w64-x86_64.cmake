# cmake/toolchains/mingw-w64-x86_64.cmake: cross-compiling corio for 64-bit
# Windows with Debian's mingw-w64 (the posix thread model, which std::thread
# needs), and running what it builds under Wine.
#
#   cmake -S . -B build/mingw -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64-x86_64.cmake
#
# Packages: g++-mingw-w64-x86-64-posix, wine (scripts/wine-test.sh installs them).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CORIO_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${CORIO_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${CORIO_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${CORIO_MINGW_TRIPLE}-windres)

# Libraries and headers from the mingw-w64 sysroot only; programs (the
# build tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${CORIO_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static libgcc, libstdc++ and winpthread: each .exe runs under Wine (or on
# a bare Windows machine) without hunting for the toolchain's DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")

# Built programs run through Wine, in a prefix inside the build folder (so
# gtest_discover_tests can list the tests at build time, and ctest runs them).
get_filename_component(CORIO_WINE_RUN "${CMAKE_CURRENT_LIST_DIR}/../../scripts/wine-run.sh" ABSOLUTE)
set(CMAKE_CROSSCOMPILING_EMULATOR "${CORIO_WINE_RUN};${CMAKE_BINARY_DIR}/wineprefix")
