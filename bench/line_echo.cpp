// bench/line_echo.cpp: a line echo server over io::buffered_reader, the
// server of bench/line_echo_memory.py. Each connection reads records ended
// by '\n' (read_until, at most 4 KiB) and writes each one back.
//
//   corio_line_echo [--plain]      (backend: CORIO_BACKEND=uring|epoll)
//
// Default: the reader is over the tcp_stream itself, so it reads in pooled
// mode (read_pooled: no buffer held while a connection waits). --plain:
// over a wrapper that offers only read(), so the reader reads as it did
// before pooled mode, into an 8 KiB buffer of its own allocated with it.
// One worker thread. Prints "line_echo listening on 127.0.0.1:PORT" and
// serves until it is killed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "corio/corio.hpp"
#include "corio/io/buffered_reader.hpp"

namespace {

// A tcp_stream's read only: buffered_reader over it reads the plain way.
struct plain_reads {
  corio::net::tcp_stream* s;
  auto read(std::span<std::byte> buf) noexcept { return s->read(buf); }
};

template <class Stream>
corio::task<void> echo_lines(corio::net::tcp_stream& conn, Stream& source) {
  corio::io::buffered_reader in(source, 8192);
  for (;;) {
    auto line = co_await in.read_until('\n', 4096);
    if (!line) co_return;  // the end, an error, or a line over 4 KiB
    if (!co_await conn.write_all(*line)) co_return;
  }
}

corio::task<void> serve(corio::net::tcp_stream conn, bool plain) {
  (void)conn.set_nodelay(true);
  if (plain) {
    plain_reads source{&conn};
    co_await echo_lines(conn, source);
  } else {
    co_await echo_lines(conn, conn);
  }
}

corio::task<void> accept_loop(bool plain) {
  auto listener = corio::net::tcp_listener::bind(corio::net::endpoint::loopback_v4(0));
  if (!listener) {
    std::fprintf(stderr, "line_echo: bind: %s\n", listener.error().message().c_str());
    co_return;
  }
  std::printf("line_echo listening on 127.0.0.1:%u (%s reads)\n",
              static_cast<unsigned>(listener->local_endpoint()->port()), plain ? "plain" : "pooled");
  std::fflush(stdout);
  corio::scope children;
  for (;;) {
    auto conn = co_await listener->accept();
    if (!conn) {  // out of descriptors, say: the measurement would be wrong
      std::fprintf(stderr, "line_echo: accept: %s\n", conn.error().message().c_str());
      std::exit(1);
    }
    children.spawn(serve(std::move(*conn), plain));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool plain = argc > 1 && std::strcmp(argv[1], "--plain") == 0;
  auto rt = corio::runtime::create(corio::runtime_options{.threads = 1});
  if (!rt) {
    std::fprintf(stderr, "line_echo: runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  (void)rt->block_on(accept_loop(plain));
  return 0;
}
