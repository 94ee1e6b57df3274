// asio_echo: an idiomatic standalone-Asio C++20 coroutine echo server.
// Benchmark baseline, not part of corio.
//
// One io_context per thread (concurrency hint 1: each is run by exactly one
// thread, so Asio can skip its internal locking), each with its own acceptor
// bound with SO_REUSEPORT to the same port when there are several threads.
// One coroutine per connection, spawned with co_spawn, echoing with
// async_read_some then async_write through a 16 KiB buffer that lives in the
// coroutine frame.
//
// Errors are taken with redirect_error rather than exceptions: the shape of
// Asio's own echo example, without paying for a throw on every disconnect.

#include <array>
#include <asio.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "peer_common.hpp"

namespace {

using asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr std::size_t buffer_size = 16 * 1024;

asio::awaitable<void> echo(tcp::socket socket) {
  std::array<char, buffer_size> data;
  std::error_code ec;
  for (;;) {
    std::size_t n = co_await socket.async_read_some(asio::buffer(data),
                                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // EOF or error; the socket closes with the frame
    co_await asio::async_write(socket, asio::buffer(data.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

asio::awaitable<void> listen(tcp::acceptor acceptor) {
  bool error_reported = false;  // report a failing accept once, not per retry
  for (;;) {
    std::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      if (!error_reported) {
        std::fprintf(stderr, "%s: accept: %s\n", peer::program, ec.message().c_str());
        error_reported = true;
      }
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
  }
}

[[noreturn]] void fail(const char* what, const std::error_code& ec) {
  std::fprintf(stderr, "%s: %s: %s\n", peer::program, what, ec.message().c_str());
  std::exit(1);
}

// Opens, binds and listens on 127.0.0.1:`port` (0 = ephemeral) and updates
// `port` to the port bound. Exits with status 1 on failure.
tcp::acceptor open_acceptor(asio::io_context& ctx, std::uint16_t& port, bool share_port) {
  tcp::acceptor acceptor(ctx);
  std::error_code ec;
  if (acceptor.open(tcp::v4(), ec); ec) fail("socket", ec);
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec) {
    fail("setsockopt(SO_REUSEADDR)", ec);
  }
  if (share_port) {
    if (acceptor.set_option(reuse_port(true), ec); ec) fail("setsockopt(SO_REUSEPORT)", ec);
  }
  if (acceptor.bind(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec); ec) {
    char what[64];
    std::snprintf(what, sizeof what, "bind 127.0.0.1:%u", static_cast<unsigned>(port));
    fail(what, ec);
  }
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) fail("listen", ec);
  tcp::endpoint local = acceptor.local_endpoint(ec);
  if (ec) fail("getsockname", ec);
  port = local.port();
  return acceptor;
}

}  // namespace

int main(int argc, char** argv) {
  peer::options opts = peer::parse_args(argc, argv);

  // Set everything up on the main thread so that any failure is reported
  // before the "listening" line. Thread 0 binds first; the others reuse the
  // port it got.
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::uint16_t port = opts.port;
  for (unsigned i = 0; i < opts.threads; ++i) {
    auto& ctx = *contexts.emplace_back(std::make_unique<asio::io_context>(1));
    asio::co_spawn(ctx, listen(open_acceptor(ctx, port, opts.threads > 1)), asio::detached);
  }

  // The signal_set lives on context 0, which the main thread runs; on SIGINT
  // or SIGTERM it stops every context. Outstanding coroutines are destroyed
  // (closing their sockets) when the contexts are.
  asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
  signals.async_wait([&contexts](const std::error_code& ec, int) {
    if (ec) return;
    for (auto& ctx : contexts) ctx->stop();
  });
  peer::announce(port);

  std::vector<std::jthread> threads;
  threads.reserve(contexts.size() - 1);
  for (std::size_t i = 1; i < contexts.size(); ++i) {
    threads.emplace_back([&ctx = *contexts[i]] { ctx.run(); });
  }
  contexts[0]->run();
  threads.clear();  // joins
  return 0;
}
