// tests/tls/tools_test.cpp: tls::stream against other TLS implementations:
// `openssl s_server`, `openssl s_client` and curl, run as child processes
// (Linux; each skips when the tool is missing).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "corio/tls/stream.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"
#include "tls/certs.hpp"

extern char** environ;

namespace corio::test {
namespace {

using namespace std::chrono_literals;
using tls_stream = corio::tls::stream<net::tcp_stream>;

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

bool tool_exists(const char* name) {
  const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A child process with its stdin and stdout on pipes (stderr discarded).
// Its stdout is collected by a thread; the destructor kills and reaps it.
class child {
 public:
  explicit child(std::vector<std::string> args) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    in_ = in[1];
    reader_ = std::thread([this, fd = out[0]] {
      char buf[64 * 1024];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard lock(mu_);
        out_.append(buf, static_cast<std::size_t>(n));
        cv_.notify_all();
      }
      close(fd);
      std::lock_guard lock(mu_);
      eof_ = true;
      cv_.notify_all();
    });
  }
  ~child() {
    close_stdin();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }
  bool started() const { return pid_ > 0; }
  void write_stdin(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(in_, data.data(), data.size());
      if (n <= 0) return;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close_stdin() {
    if (in_ >= 0) close(in_);
    in_ = -1;
  }
  // Waits (bounded) until stdout holds `what`; returns all of it so far.
  std::string wait_for(std::string_view what, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return eof_ || out_.find(what) != std::string::npos; });
    return out_;
  }
  // Waits (bounded) until stdout holds a whole line containing `what`;
  // returns that line.
  std::string wait_for_line(std::string_view what, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(mu_);
    std::size_t at = std::string::npos, end = std::string::npos;
    cv_.wait_for(lock, limit, [&] {
      at = out_.find(what);
      end = at == std::string::npos ? at : out_.find('\n', at);
      return eof_ || end != std::string::npos;
    });
    if (end == std::string::npos) return {};
    return out_.substr(at, end - at);
  }
  // Waits (bounded) for the end of stdout, then for the exit; the exit status.
  int wait_exit(std::chrono::seconds limit = 20s) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, limit, [&] { return eof_; });
    }
    int status = -1;
    if (pid_ > 0 && waitpid(pid_, &status, 0) == pid_) pid_ = -1;
    return status;
  }
  std::string output() {
    std::lock_guard lock(mu_);
    return out_;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;
  bool eof_ = false;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>('a' + (x >> 24) % 26);  // text lines: safe through any tool
  }
  for (std::size_t i = 63; i < n; i += 64) s[i] = '\n';
  return s;
}

class tls_tools_test : public runtime_test {
 protected:
  void SetUp() override {
    runtime_test::SetUp();
    certs = tls::certs();
    if (!certs) GTEST_SKIP() << "no test certificates on this platform";
  }
  corio::tls::context server_context(std::span<const std::string_view> alpn = {}) {
    auto ctx = corio::tls::context::create(corio::tls::role::server);
    EXPECT_TRUE(ctx);
    EXPECT_TRUE(ctx->use_certificate_chain_file(certs->server.cert_file.c_str()));
    EXPECT_TRUE(ctx->use_private_key_file(certs->server.key_file.c_str()));
    if (!alpn.empty()) {
      EXPECT_TRUE(ctx->set_alpn(alpn));
    }
    return std::move(*ctx);
  }
  corio::tls::context client_context() {
    auto ctx = corio::tls::context::create(corio::tls::role::client);
    EXPECT_TRUE(ctx);
    EXPECT_TRUE(ctx->trust_file(certs->ca_file.c_str()));
    return std::move(*ctx);
  }
  // `openssl s_server -rev` (reverses each line; "CLOSE" ends the session)
  // with `cert`/`key`; its port, or 0.
  std::uint16_t start_s_server(std::unique_ptr<child>& server, const tls::credentials& cred) {
    server = std::make_unique<child>(std::vector<std::string>{
        "openssl", "s_server", "-accept", "0", "-naccept", "1", "-rev", "-alpn", "echo", "-cert",
        cred.cert_file, "-key", cred.key_file});
    const std::string out = server->wait_for_line("ACCEPT");
    const auto colon = out.rfind(':');
    if (out.find("ACCEPT") == std::string::npos || colon == std::string::npos) return 0;
    return static_cast<std::uint16_t>(std::atoi(out.c_str() + colon + 1));
  }

  const tls::cert_set* certs = nullptr;
};

TEST_F(tls_tools_test, CorioClientAgainstOpensslServer) {
  if (!tool_exists("openssl")) GTEST_SKIP() << "openssl command not installed";
  std::unique_ptr<child> server;
  const auto port = start_s_server(server, certs->server);
  ASSERT_NE(port, 0) << server->output();
  auto ctx = client_context();
  const std::array<std::string_view, 1> alpn{"echo"};
  ASSERT_TRUE(ctx.set_alpn(alpn));
  run([&]() -> task<void> {
    auto tcp = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    CO_ASSERT(tcp);
    auto c = tls_stream::client(ctx, std::move(*tcp), "localhost");
    CO_ASSERT(c);
    auto hs = co_await c->handshake();
    CO_ASSERT(hs);
    EXPECT_EQ(c->alpn(), "echo");
    CO_ASSERT(co_await c->write_all(as_bytes("hello corio\n")));
    std::array<char, 12> got{};
    CO_ASSERT(co_await c->read_exact(got));
    EXPECT_EQ(std::string_view(got.data(), got.size()), "oiroc olleh\n");
    // s_server answers CLOSE with its close_notify: an orderly end.
    CO_ASSERT(co_await c->write_all(as_bytes("CLOSE\n")));
    std::array<char, 64> rest{};
    std::size_t n = 1;
    while (n != 0) {
      auto r = co_await c->read(rest);
      CO_ASSERT(r);
      n = *r;
    }
  }());
}

TEST_F(tls_tools_test, CorioClientRefusesOpensslServerWithSelfSignedCertificate) {
  if (!tool_exists("openssl")) GTEST_SKIP() << "openssl command not installed";
  std::unique_ptr<child> server;
  const auto port = start_s_server(server, certs->self_signed);
  ASSERT_NE(port, 0) << server->output();
  auto ctx = client_context();
  run([&]() -> task<void> {
    auto tcp = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    CO_ASSERT(tcp);
    auto c = tls_stream::client(ctx, std::move(*tcp), "localhost");
    CO_ASSERT(c);
    auto hs = co_await c->handshake();
    CO_ASSERT(!hs);
    EXPECT_EQ(hs.error(), corio::tls::errc::certificate_rejected) << hs.error().message();
  }());
}

TEST_F(tls_tools_test, CorioClientRefusesWrongHostNameFromOpensslServer) {
  if (!tool_exists("openssl")) GTEST_SKIP() << "openssl command not installed";
  std::unique_ptr<child> server;
  const auto port = start_s_server(server, certs->server);
  ASSERT_NE(port, 0) << server->output();
  auto ctx = client_context();
  run([&]() -> task<void> {
    auto tcp = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    CO_ASSERT(tcp);
    auto c = tls_stream::client(ctx, std::move(*tcp), "example.com");
    CO_ASSERT(c);
    auto hs = co_await c->handshake();
    CO_ASSERT(!hs);
    EXPECT_EQ(hs.error(), corio::tls::errc::host_name_mismatch) << hs.error().message();
  }());
}

// s_client sends 1 MB, then close_notify at the end of its stdin; the corio
// server checks every byte and sees the orderly end.
TEST_F(tls_tools_test, OpensslClientSendsToCorioServerAndClosesWithCloseNotify) {
  if (!tool_exists("openssl")) GTEST_SKIP() << "openssl command not installed";
  auto listener = listen_loopback();
  const std::array<std::string_view, 2> alpn{"h2", "echo"};
  auto ctx = server_context(alpn);
  const std::string data = pattern(1 << 20);
  child client({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port_of(listener)),
                "-CAfile", certs->ca_file, "-verify_return_error", "-servername", "localhost",
                "-alpn", "echo", "-quiet", "-no_ign_eof", "-nocommands"});
  ASSERT_TRUE(client.started());
  // s_client drops what it has not sent yet when its stdin ends, so stdin
  // ends only once the server has it all.
  std::mutex mu;
  std::condition_variable cv;
  bool all_received = false;
  std::thread feeder([&] {
    client.write_stdin(data);
    std::unique_lock lock(mu);
    cv.wait_for(lock, 20s, [&] { return all_received; });
    client.close_stdin();
  });
  run([&]() -> task<void> {
    auto tcp = co_await listener.accept();
    CO_ASSERT(tcp);
    auto s = tls_stream::server(ctx, std::move(*tcp));
    CO_ASSERT(s);
    auto hs = co_await s->handshake();
    CO_ASSERT(hs);
    EXPECT_EQ(s->alpn(), "echo");
    EXPECT_EQ(s->server_name(), "localhost");
    std::string got;
    std::array<char, 16 * 1024> buf{};
    while (got.size() < data.size()) {
      auto n = co_await s->read(buf);
      if (!n || *n == 0) {
        ADD_FAILURE() << "after " << got.size() << " bytes: "
                      << (n ? std::string("end") : n.error().message());
        co_return;
      }
      got.append(buf.data(), *n);
    }
    EXPECT_TRUE(got == data) << "got " << got.size() << " bytes of " << data.size();
    {
      std::lock_guard lock(mu);
      all_received = true;
    }
    cv.notify_one();
    auto end = co_await s->read(buf);
    CO_ASSERT(end);  // not truncated: s_client ends with close_notify
    EXPECT_EQ(*end, 0u);
    (void)co_await s->shutdown();
  }());
  feeder.join();
  client.wait_exit();
}

// The corio server sends 1 MB and close_notify; s_client prints it all and
// exits at the close_notify.
TEST_F(tls_tools_test, CorioServerSendsToOpensslClientAndClosesWithCloseNotify) {
  if (!tool_exists("openssl")) GTEST_SKIP() << "openssl command not installed";
  auto listener = listen_loopback();
  auto ctx = server_context();
  const std::string data = pattern(1 << 20);
  child client({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port_of(listener)),
                "-CAfile", certs->ca_file, "-verify_return_error", "-servername", "localhost",
                "-quiet", "-nocommands"});
  ASSERT_TRUE(client.started());
  run([&]() -> task<void> {
    auto tcp = co_await listener.accept();
    CO_ASSERT(tcp);
    auto s = tls_stream::server(ctx, std::move(*tcp));
    CO_ASSERT(s);
    CO_ASSERT(co_await s->handshake());
    CO_ASSERT(co_await s->write_all(as_bytes(data)));
    CO_ASSERT(co_await s->shutdown());
    // s_client answers with its own close_notify before it exits.
    std::array<char, 256> buf{};
    auto n = co_await s->read(buf);
    CO_ASSERT(n);
    EXPECT_EQ(*n, 0u);
  }());
  EXPECT_EQ(client.wait_exit(), 0);
  EXPECT_TRUE(client.output() == data) << "s_client printed " << client.output().size() << " bytes";
}

// curl verifies the corio server (CA file, host name), agrees on
// http/1.1 by ALPN and downloads 2 MB.
TEST_F(tls_tools_test, CurlDownloadsFromCorioServer) {
  if (!tool_exists("curl")) GTEST_SKIP() << "curl not installed";
  auto listener = listen_loopback();
  const std::array<std::string_view, 2> alpn{"h2x", "http/1.1"};
  auto ctx = server_context(alpn);
  const std::string body = pattern(2 << 20);
  const std::string port = std::to_string(port_of(listener));
  child curl({"curl", "-sS", "--http1.1", "--cacert", certs->ca_file, "--resolve",
              "localhost:" + port + ":127.0.0.1", "https://localhost:" + port + "/file"});
  ASSERT_TRUE(curl.started());
  run([&]() -> task<void> {
    auto tcp = co_await listener.accept();
    CO_ASSERT(tcp);
    auto s = tls_stream::server(ctx, std::move(*tcp));
    CO_ASSERT(s);
    CO_ASSERT(co_await s->handshake());
    EXPECT_EQ(s->alpn(), "http/1.1");
    std::string request;
    std::array<char, 4096> buf{};
    while (request.find("\r\n\r\n") == std::string::npos) {
      auto n = co_await s->read(buf);
      CO_ASSERT(n && *n > 0);
      request.append(buf.data(), *n);
    }
    EXPECT_EQ(request.rfind("GET /file HTTP/1.1\r\n", 0), 0u) << request;
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n";
    CO_ASSERT(co_await s->write_all(as_bytes(head)));
    CO_ASSERT(co_await s->write_all(as_bytes(body)));
    CO_ASSERT(co_await s->shutdown());
  }());
  EXPECT_EQ(curl.wait_exit(), 0);
  EXPECT_TRUE(curl.output() == body) << "curl printed " << curl.output().size() << " bytes";
}

}  // namespace
}  // namespace corio::test
