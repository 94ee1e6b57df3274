// tests/docs/embedding.cpp: the application of docs/embedding.md. A program
// with threads of its own hands network requests to a corio runtime, gets
// each result back on the thread that asked, and shuts the runtime down.
// The test suite runs it on every backend (docs.embedding); the page quotes
// it (tests/docs/doc_blocks.py checks the quotes).
#include <corio/corio.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// The network side: coroutines that run on the runtime's workers.

// The service this example talks to (a stand-in for a remote one): answers
// each connection with what it sent, in upper case, then closes.
corio::task<void> shout(corio::net::tcp_stream conn, std::stop_token stop) {
  std::array<char, 1024> buf;
  for (;;) {
    auto n = co_await corio::with_stop(conn.read(std::as_writable_bytes(std::span(buf))), stop);
    if (!n || *n == 0) co_return;
    std::transform(buf.begin(), buf.begin() + *n, buf.begin(),
                   [](char c) { return static_cast<char>(std::toupper(c)); });
    auto reply = std::as_bytes(std::span(buf).first(*n));
    if (!co_await corio::with_stop(conn.write_all(reply), stop)) co_return;
  }
}

corio::task<void> shout_service(corio::net::tcp_listener& listener, std::stop_token stop) {
  corio::scope connections;
  for (;;) {
    auto conn = co_await corio::with_stop(listener.accept(), stop);
    if (!conn) break;
    connections.spawn(shout(std::move(*conn), stop));
  }
  co_await connections.join();
}

// One request, as the application's threads make it: connect, send, read
// the whole reply. Every step watches `stop`, so cancelling the request's
// handle (or shutting the runtime down) ends it promptly.
corio::task<corio::result<std::string>> fetch(corio::net::endpoint service, std::string request,
                                              std::stop_token stop) {
  auto conn = co_await corio::with_stop(corio::net::tcp_stream::connect(service), stop);
  if (!conn) co_return corio::fail(conn.error());
  auto sent = co_await corio::with_stop(conn->write_all(std::as_bytes(std::span(request))), stop);
  if (!sent) co_return corio::fail(sent.error());
  if (auto r = conn->shutdown(); !r) co_return corio::fail(r.error());
  std::string reply;
  std::array<char, 1024> buf;
  for (;;) {
    auto n = co_await corio::with_stop(conn->read(std::as_writable_bytes(std::span(buf))), stop);
    if (!n) co_return corio::fail(n.error());
    if (*n == 0) co_return reply;
    reply.append(buf.data(), *n);
  }
}

// ---------------------------------------------------------------------------
// The application: plain threads that know nothing of coroutines but this.

// What a thread of the application does to get one answer: hand the request
// to the runtime, wait for the result here, give up after `patience`.
corio::result<std::string> ask(corio::runtime& rt, corio::net::endpoint service,
                               std::string request, std::chrono::milliseconds patience) {
  auto handle = rt.spawn([service, request](std::stop_token stop) {
    return fetch(service, request, stop);
  });
  auto reply = handle.wait_for(patience);
  if (!reply) {
    handle.cancel();  // timed out (or refused): stop the request, do not wait for it
    return corio::fail(reply.error());
  }
  return *reply;  // the request's own result: the reply, or why it failed
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 4;
  const int requests = argc > 2 ? std::atoi(argv[2]) : 50;

  auto rt = corio::runtime::create();
  auto listener = corio::net::tcp_listener::bind(corio::net::endpoint::loopback_v4(0));
  if (!rt || !listener) return 1;
  auto service = listener->local_endpoint();
  if (!service) return 1;
  // The service runs on the runtime until shutdown stops its token.
  rt->spawn([&listener](std::stop_token stop) { return shout_service(*listener, stop); }).detach();

  std::atomic<int> answered{0}, wrong{0}, failed{0};
  std::vector<std::thread> app;
  for (int t = 0; t < threads; ++t) {
    app.emplace_back([&, t] {
      for (int i = 0; i < requests; ++i) {
        std::string request = "thread " + std::to_string(t) + " asks " + std::to_string(i);
        auto reply = ask(*rt, *service, request, 5s);
        std::ranges::transform(request, request.begin(),
                               [](char c) { return static_cast<char>(std::toupper(c)); });
        if (!reply) {
          failed.fetch_add(1);
        } else if (*reply != request) {
          wrong.fetch_add(1);
        } else {
          answered.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : app) t.join();

  // Let what still runs finish for a second, stop the rest, join.
  auto report = rt->shutdown(1s);
  std::printf("%d answered, %d wrong, %d failed; shutdown: %zu finished, %zu stopped, %zu abandoned\n",
              answered.load(), wrong.load(), failed.load(), report.finished, report.stopped,
              report.abandoned);
  return answered == threads * requests && report.abandoned == 0 ? 0 : 1;
}
