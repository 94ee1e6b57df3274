// tests/net/errors_test.cpp: bad input gives a clear error code, never a
// crash or a hang.
#include <gtest/gtest.h>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class errors_test : public runtime_test {};

TEST_F(errors_test, ConnectToAClosedPortIsRefused) {
  std::uint16_t port;
  {
    auto l = listen_loopback();
    port = port_of(l);
  }
  run([](std::uint16_t port) -> task<void> {
    auto s = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    CO_ASSERT(!s);
    EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
  }(port));
}

TEST_F(errors_test, BindToAPortInUseFails) {
  auto first = listen_loopback();
  auto second = net::tcp_listener::bind(net::endpoint::loopback_v4(port_of(first)));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use) << second.error().message();
}

TEST_F(errors_test, MalformedEndpointsAreInvalid) {
  for (auto text : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "256.0.0.1:80",
                    "localhost:80", "[::1:80", "::1:80", "1.2.3.4:-1", "[::1]:8x"}) {
    auto e = net::endpoint::parse(text);
    EXPECT_FALSE(e) << text;
    if (!e) {
      EXPECT_EQ(e.error(), errc::invalid_endpoint) << text;
    }
  }
}

TEST_F(errors_test, OperationsOnAClosedStreamSayNotOpen) {
  run([]() -> task<void> {
    net::tcp_stream s;
    std::array<char, 4> buf;
    auto r = co_await s.read(buf);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), errc::not_open);
    auto w = co_await s.write(buf);
    CO_ASSERT(!w);
    EXPECT_EQ(w.error(), errc::not_open);
    net::tcp_listener l;
    auto a = co_await l.accept();
    CO_ASSERT(!a);
    EXPECT_EQ(a.error(), errc::not_open);
    EXPECT_FALSE(s.shutdown());
    EXPECT_FALSE(s.peer_endpoint());
  }());
}

TEST(errors_runtime, UnavailableBackendIsAnErrorNotACrash) {
#ifdef _WIN32
  auto rt = runtime::create({.threads = 1, .backend = backend_kind::io_uring});
#else
  auto rt = runtime::create({.threads = 1, .backend = backend_kind::iocp});
#endif
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error(), std::errc::function_not_supported);
}

TEST(errors_runtime, BackendNamesParse) {
  EXPECT_EQ(parse_backend_kind("uring"), backend_kind::io_uring);
  EXPECT_EQ(parse_backend_kind("epoll"), backend_kind::epoll);
  EXPECT_EQ(parse_backend_kind("iocp"), backend_kind::iocp);
  EXPECT_FALSE(parse_backend_kind("kqueue"));
}

}  // namespace
}  // namespace corio::test
