// demos/chat_server/main.cpp: the chat server's command line. The server
// itself is in chat.hpp / chat.cpp (the protocol is described there).
//
//   chat_server --port 0 --threads 2
//   chat_server listening on 127.0.0.1:41234 (backend uring, 2 threads)
//
// Ctrl-C (SIGINT, SIGTERM) stops accepting (the listener is closed at
// once: new clients are refused), tells every client
// "BYE server shutting down", closes the connections and exits 0.
// kill -USR1 PID prints the runtime's dump; --admin-port P serves /metrics
// and /debug/tasks (docs/observability.md).
#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <string>

#include "chat_server/chat.hpp"
#include "common/admin.hpp"
#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "corio/corio.hpp"

namespace {

struct options {
  corio::net::endpoint address;
  corio::runtime_options runtime;
  chat::options chat;
  demo::admin_options admin;
};

std::optional<int> parse_options(int argc, const char* const* argv, options& out) {
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  std::optional<unsigned> threads;
  std::string backend = "auto";
  std::uint64_t queue_bytes = out.chat.queue_bytes;
  std::uint64_t max_line = out.chat.max_line;
  std::string summary =
      "A line-based chat server (a corio demo: each connection is a reader and a writer\n"
      "coroutine in one scope; rooms hold only the members' outbound channels).\n"
      "Try it with: chat_client --port P   (or nc 127.0.0.1 P). Stop it with Ctrl-C.\n\n"
      "Protocol:\n";
  for (auto line : chat::help_lines) summary.append("  ").append(line.substr(5)).append("\n");
  summary +=
      "\nSlow clients: a client whose outbound queue would pass --queue-bytes is\n"
      "disconnected with 'ERR too slow ...', so it never holds up its room and never\n"
      "makes the server hold more than that for it. A line sent to a room is kept once,\n"
      "shared by every member's queue.";
  demo::args cli("chat_server", summary);
  cli.integer("port", "P", port, std::uint16_t{0}, std::uint16_t{65535},
              "port to listen on; 0 picks a free one (printed at start)")
      .text("host", "ADDR", host, "address to listen on, IPv4 or IPv6 (::1, 0.0.0.0, ::)")
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("one per core")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .integer("queue-bytes", "BYTES", queue_bytes, std::uint64_t{1024}, std::uint64_t{1} << 32,
               "outbound bytes queued per client before it counts as too slow")
      .seconds("idle-timeout", out.chat.idle_timeout, 86400.0,
               "close a connection that sends nothing, or takes nothing written to it, for "
               "this long",
               "never")
      .integer("max-line", "BYTES", max_line, std::uint64_t{16}, std::uint64_t{1} << 20,
               "longest line a client may send");
  demo::add_admin_options(cli, out.admin);
  if (auto code = cli.parse(argc, argv)) return code;

  auto at = demo::listen_address(host, port);
  if (!at) return cli.fail("--host: '" + host + "' is not an IPv4 or IPv6 address");
  out.address = *at;
  out.runtime.threads = threads.value_or(0);
  out.runtime.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  out.admin.apply(out.runtime);
  // A client's queue must hold at least one of the longest lines (its text,
  // a nick and ": "), or every such line would disconnect its readers.
  if (queue_bytes < max_line + 64 + chat::line_overhead)
    return cli.fail("--queue-bytes must hold at least one line of --max-line bytes (" +
                    std::to_string(max_line + 64 + chat::line_overhead) + " or more)");
  out.chat.queue_bytes = static_cast<std::size_t>(queue_bytes);
  out.chat.max_line = static_cast<std::size_t>(max_line);
  return std::nullopt;
}

corio::task<void> wait_for_ctrl_c(std::stop_token stop) {
  auto sig = co_await corio::ctrl_c(stop);
  if (sig) fmt::print(stderr, "chat_server: shutting down\n");
}

// Serves until Ctrl-C (or until the listener fails): whichever ends first
// stops the other, and when_any joins both.
corio::task<void> run(chat::server& server, corio::net::tcp_listener& listener) {
  co_await corio::when_any(
      [&](std::stop_token stop) { return server.serve(listener, stop); },
      [](std::stop_token stop) { return wait_for_ctrl_c(stop); });
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;

  demo::raise_descriptor_limit();
  auto started = demo::start_server("chat_server", opt.address, opt.runtime);
  if (!started) return 1;
  auto admin = demo::start_admin("chat_server", started->rt, opt.admin);
  if (!admin) return 1;

  chat::server server(opt.chat);
  started->rt.block_on(run(server, started->listener));
  const auto& mem = server.memory();
  fmt::print(stderr,
             "chat_server: {} connections served, {} disconnected as too slow, {} as idle; "
             "peak bytes: {} in lines, {} charged to queues\n",
             server.accepted(), server.slow_disconnects(), server.idle_disconnects(),
             mem.peak_line_bytes.load(), mem.peak_queued_bytes.load());
  return 0;
}
