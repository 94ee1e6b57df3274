// lib/core/io.cpp: the public awaitables' entry points, dispatched to the
// calling worker's backend.
#include <cerrno>

#include "core/worker.hpp"
#include "corio/detail/io.hpp"

namespace corio::detail {

namespace {
// An operation started off a runtime worker has no backend to run it.
bool refuse(operation& op) noexcept {
  op.res = -static_cast<std::int64_t>(std::errc::operation_not_supported);
  return false;
}
}  // namespace

bool start_accept(operation& op, socket_core& listener, accept_state& st) noexcept {
  auto* w = worker::current();
  return w ? w->io().start_accept(op, listener, st) : refuse(op);
}

bool start_connect(operation& op, socket_core& s, const address_storage& to) noexcept {
  auto* w = worker::current();
  return w ? w->io().start_connect(op, s, to) : refuse(op);
}

bool start_recv(operation& op, socket_core& s, void* data, std::size_t size) noexcept {
  auto* w = worker::current();
  return w ? w->io().start_recv(op, s, data, size) : refuse(op);
}

bool start_send(operation& op, socket_core& s, const void* data, std::size_t size) noexcept {
  auto* w = worker::current();
  return w ? w->io().start_send(op, s, data, size) : refuse(op);
}

bool start_wait_readable(operation& op, socket_core& s) noexcept {
  auto* w = worker::current();
  return w ? w->io().start_wait_readable(op, s) : refuse(op);
}

bool start_timer(operation& op, timer_state& st) noexcept {
  auto* w = worker::current();
  return w ? w->io().start_timer(op, st) : refuse(op);
}

}  // namespace corio::detail
