// tests/docs/getting_started.cpp: the examples of docs/getting-started.md.
// The test suite builds and runs this program on every backend
// (docs.getting_started), and tests/docs/doc_blocks.py checks that each
// block the page quotes is word for word in here.
#include <corio/corio.hpp>

#include <array>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <utility>

// A server: echo every byte back until the peer closes its side.
corio::task<void> echo(corio::net::tcp_stream conn) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await conn.read(buf);
    if (!n || *n == 0) co_return;  // an error, or the peer closed its side
    if (!co_await conn.write_all(std::span(buf).first(*n))) co_return;
  }
}

// Accepts until `stop` is requested; the scope joins every connection
// before serve returns, so no connection outlives the server.
corio::task<void> serve(corio::net::tcp_listener& listener, std::stop_token stop) {
  corio::scope connections;
  for (;;) {
    auto conn = co_await corio::with_stop(listener.accept(), stop);
    if (!conn) break;  // stopped (operation_canceled) or failed
    connections.spawn(echo(std::move(*conn)));
  }
  co_await connections.join();
}

// A client: send a line, close the sending side, read the reply to its end.
corio::task<corio::result<std::string>> ask(corio::net::endpoint server, std::string line) {
  auto conn = co_await corio::net::tcp_stream::connect(server);
  if (!conn) co_return corio::fail(conn.error());
  if (auto sent = co_await conn->write_all(std::as_bytes(std::span(line))); !sent)
    co_return corio::fail(sent.error());
  if (auto done = conn->shutdown(); !done) co_return corio::fail(done.error());
  std::string reply;
  std::array<char, 1024> buf;
  for (;;) {
    auto n = co_await conn->read(std::as_writable_bytes(std::span(buf)));
    if (!n) co_return corio::fail(n.error());
    if (*n == 0) co_return reply;  // the server closed its side: all there
    reply.append(buf.data(), *n);
  }
}

// WRONG (compiled here so the page stays true, never called): the lambda
// is a temporary, destroyed at the end of the statement that spawns it, but
// its coroutine runs later and reads `greeting` through the dead lambda.
void spawn_with_dangling_capture(corio::scope& s, std::string greeting) {
  s.spawn([greeting]() -> corio::task<void> {
    co_await corio::yield();
    std::printf("%s\n", greeting.c_str());  // use after free
  }());
}

// RIGHT: what the coroutine needs is a parameter, copied into its frame,
// which lives until the coroutine ends.
void spawn_with_parameter(corio::scope& s, std::string greeting) {
  s.spawn([](std::string text) -> corio::task<void> {
    co_await corio::yield();
    std::printf("%s\n", text.c_str());
  }(std::move(greeting)));
}

int main() {
  auto rt = corio::runtime::create();  // one worker per core; the backend is probed
  auto listener = corio::net::tcp_listener::bind(corio::net::endpoint::loopback_v4(0));
  if (!rt || !listener) return 1;
  auto at = listener->local_endpoint();
  if (!at) return 1;

  // The server runs on the runtime; this thread goes on.
  auto server = rt->spawn(serve(*listener, rt->stop_token()));
  // The client's task runs on the runtime too; block_on waits for its result.
  auto reply = rt->block_on(ask(*at, "hello, corio"));
  std::printf("reply: %s\n", reply ? reply->c_str() : reply.error().message().c_str());

  // A scope lives on a worker: run the safe spawn there.
  rt->block_on([](std::string text) -> corio::task<void> {
    corio::scope s;
    spawn_with_parameter(s, std::move(text));
    co_await s.join();
  }("spawned safely"));

  rt->shutdown();  // stops serve's accept (rt->stop_token()) and joins it
  auto served = server.wait();
  return reply && *reply == "hello, corio" && served ? 0 : 1;
}
