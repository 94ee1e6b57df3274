// tests/fs/temp_dir.hpp: a directory of its own for each test, removed
// (with what the test left in it) when the test ends.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace corio::test {

class temp_dir {
 public:
  temp_dir() {
    static std::atomic<unsigned> serial{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "corio-";
    name += info ? info->name() : "test";
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    name += "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-" +
            std::to_string(serial.fetch_add(1));
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  /// `name` inside the directory, as a UTF-8 string for fs::file::open.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

  /// Writes `bytes` to `name` with the standard library (test setup).
  std::string write(const std::string& name, const std::vector<std::byte>& bytes) const {
    const std::string p = file(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

 private:
  std::filesystem::path path_;
};

/// The byte at position `i` of the test pattern: cheap to make and to check
/// at any offset, and not periodic at any power of two (so a chunk sent to
/// the wrong place or twice does not match).
inline std::byte pattern_at(std::uint64_t i) noexcept {
  std::uint64_t x = i * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return static_cast<std::byte>(x ^ (i >> 13));
}

}  // namespace corio::test
