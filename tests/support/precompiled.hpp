// tests/support/precompiled.hpp: the headers nearly every test file includes
// (GoogleTest, the standard library, all of corio's public API), compiled
// once per build as corio_tests' precompiled header: parsing them took
// about a third of each test file's compile time.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "corio/corio.hpp"
