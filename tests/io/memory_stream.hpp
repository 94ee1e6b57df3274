// tests/io/memory_stream.hpp: a stream in memory whose reads return exactly
// the chunks a test scripted, so that every way of splitting a message over
// reads can be tried without a socket. Also a stream other than tcp_stream:
// proof that the buffered streams and copy() are not TCP-specific.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "corio/result.hpp"

namespace corio::test {

/// An awaiter that is ready at once with a result.
template <class T>
struct ready {
  T value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T await_resume() noexcept { return std::move(value); }
};

/// Reads hand out the scripted chunks one per read (a chunk larger than the
/// reader's buffer is handed out over several reads), then 0 (the end).
/// Writes append to `written` and are recorded one entry per call.
struct memory_stream {
  std::deque<std::string> chunks;
  std::size_t reads = 0;
  std::string written{};
  std::vector<std::size_t> write_sizes{};  // one per write_all call
  bool shut = false;

  ready<result<std::size_t>> read(std::span<std::byte> buf) {
    ++reads;
    if (chunks.empty() || buf.empty()) return {0};
    auto& c = chunks.front();
    const std::size_t n = std::min(c.size(), buf.size());
    std::memcpy(buf.data(), c.data(), n);
    c.erase(0, n);
    if (c.empty()) chunks.pop_front();
    return {n};
  }
  ready<result<void>> write_all(std::span<const std::byte> data) {
    written.append(reinterpret_cast<const char*>(data.data()), data.size());
    write_sizes.push_back(data.size());
    return {result<void>{}};
  }
  result<void> shutdown() {
    shut = true;
    return {};
  }
};

/// A memory_stream that also writes several buffers in one call.
struct gather_memory_stream : memory_stream {
  using memory_stream::write_all;
  std::vector<std::size_t> gathers;  // buffers per gathered call
  ready<result<void>> write_all(std::span<io_slice> parts) {
    std::size_t total = 0;
    for (auto& p : parts) {
      written.append(static_cast<const char*>(p.data), p.size);
      total += p.size;
      p.size = 0;  // sent, as tcp_stream's gather write leaves it
    }
    write_sizes.push_back(total);
    gathers.push_back(parts.size());
    return {result<void>{}};
  }
};

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
inline std::string_view text_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace corio::test
