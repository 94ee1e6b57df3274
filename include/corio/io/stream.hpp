// corio/io/stream.hpp: what the buffered streams and copy() ask of a stream.
//
// A stream is anything with a `read(span<byte>)` and a `write_all(span<const
// byte>)` whose awaitables yield corio::result: tcp_stream and its halves
// today, TLS and Unix sockets later. Nothing here is TCP-specific.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <stop_token>
#include <utility>

#include "corio/cancel.hpp"
#include "corio/net/tcp_stream.hpp"  // io_slice
#include "corio/result.hpp"

namespace corio::io {

namespace detail {

template <class A>
concept has_member_co_await = requires(A&& a) {
  std::forward<A>(a).operator co_await();
};

// What `co_await a` yields, for an awaiter or an awaitable with a member
// operator co_await (task).
template <class A>
struct await_result {
  using type = decltype(std::declval<A&>().await_resume());
};
template <has_member_co_await A>
struct await_result<A> {
  using type = decltype(std::declval<A>().operator co_await().await_resume());
};
template <class A>
using await_result_t = typename await_result<std::remove_cvref_t<A>>::type;

}  // namespace detail

/// A stream that can be read: `s.read(std::span<std::byte>)` gives an
/// awaitable of result<std::size_t> (0 bytes: the peer's orderly end).
template <class S>
concept readable_stream = requires(S& s, std::span<std::byte> buf) {
  {s.read(buf)};
  requires std::same_as<detail::await_result_t<decltype(s.read(buf))>, result<std::size_t>>;
};

/// A stream that can be written: `s.write_all(std::span<const std::byte>)`
/// gives an awaitable of result<void> that writes all of it, in order.
template <class S>
concept writable_stream = requires(S& s, std::span<const std::byte> buf) {
  {s.write_all(buf)};
  requires std::same_as<detail::await_result_t<decltype(s.write_all(buf))>, result<void>>;
};

/// A stream whose `s.shutdown()` gives result<void> at once (tcp_stream: a
/// socket shutdown).
template <class S>
concept shuts_down_at_once = requires(S& s) {
  { s.shutdown() } -> std::same_as<result<void>>;
};

/// A writable stream whose sending side can be shut down (the peer then
/// reads its orderly end): `s.shutdown()` gives result<void> at once, or an
/// awaitable of it (tls::stream, which sends close_notify first).
template <class S>
concept half_closable = writable_stream<S> && (shuts_down_at_once<S> || requires(S& s) {
  {s.shutdown()};
  requires std::same_as<detail::await_result_t<decltype(s.shutdown())>, result<void>>;
});

/// A stream that can write several buffers as one (sendmsg / WSASend with
/// several WSABUFs): `s.write_all(std::span<io_slice>)`, as tcp_stream and
/// its write half do. buffered_writer uses it, when the stream has it, for a
/// large write that follows buffered bytes.
template <class S>
concept gather_writable_stream = writable_stream<S> &&
    requires(S& s, std::span<io_slice> bufs) {
  {s.write_all(bufs)};
  requires std::same_as<detail::await_result_t<decltype(s.write_all(bufs))>, result<void>>;
};

namespace detail {

/// `aw` bound to `stop`: through with_stop where it is a corio operation
/// (the kernel operation is cancelled); otherwise the token is only checked
/// before the caller awaits (see stop_checked).
template <class A>
auto bind_stop(A aw, const std::stop_token& stop) noexcept {
  if constexpr (corio::detail::op_awaiter<A>) {
    return with_stop(std::move(aw), stop);
  } else {
    return aw;
  }
}

/// True when `stop` asks to stop and `A` cannot be cancelled by itself.
template <class A>
bool stop_checked(const std::stop_token& stop) noexcept {
  return !corio::detail::op_awaiter<A> && stop.stop_requested();
}

}  // namespace detail

}  // namespace corio::io
