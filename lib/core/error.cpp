// lib/core/error.cpp: corio's own error category.
#include <string>

#include "corio/result.hpp"

namespace corio {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::concurrent_operation:
        return "another operation in the same direction is already in flight on this stream";
      case errc::timed_out: return "operation timed out";
      case errc::invalid_endpoint: return "invalid endpoint (expected 1.2.3.4:port or [v6]:port)";
      case errc::not_open: return "the object is not open";
      case errc::unexpected_eof: return "the stream ended before the buffer was filled";
      case errc::limit_exceeded: return "no delimiter within the size limit (the data stays buffered)";
      case errc::end_of_stream: return "the stream ended (orderly close between messages)";
      case errc::shut_down: return "the runtime is shutting down";
    }
    return "unknown corio error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<errc>(ev)) {
      case errc::concurrent_operation: return std::errc::device_or_resource_busy;
      case errc::timed_out: return std::errc::timed_out;
      case errc::invalid_endpoint: return std::errc::invalid_argument;
      case errc::not_open: return std::errc::bad_file_descriptor;
      case errc::unexpected_eof: return {ev, *this};
      case errc::limit_exceeded: return std::errc::message_size;
      case errc::end_of_stream: return {ev, *this};
      case errc::shut_down: return std::errc::operation_canceled;
    }
    return {ev, *this};
  }
};

}  // namespace

const std::error_category& corio_category() noexcept {
  static const category c;
  return c;
}

}  // namespace corio
