// tests/support/loopback.hpp: connected stream pairs on 127.0.0.1, port 0.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <vector>

#include "corio/corio.hpp"

namespace corio::test {

struct stream_pair {
  net::tcp_stream client;
  net::tcp_stream server;
};

/// A listener on 127.0.0.1 with a port the OS picked.
inline net::tcp_listener listen_loopback() {
  auto l = net::tcp_listener::bind(net::endpoint::loopback_v4(0));
  EXPECT_TRUE(l) << l.error().message();
  return std::move(*l);
}

inline std::uint16_t port_of(const net::tcp_listener& l) { return l.local_endpoint()->port(); }

/// Connects a client to a fresh listener and accepts it. (The kernel
/// completes the handshake from the listen backlog, so connecting first and
/// accepting second needs no concurrency.)
inline task<stream_pair> connected_pair() {
  auto listener = listen_loopback();
  auto client = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port_of(listener)));
  auto accepted = co_await listener.accept();
  EXPECT_TRUE(accepted) << accepted.error().message();
  EXPECT_TRUE(client) << client.error().message();
  co_return stream_pair{std::move(*client), std::move(*accepted)};
}

/// Deterministic pseudo-random bytes.
inline std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(gen());
  return out;
}

/// Makes the peer see a reset (RST) instead of an orderly close.
void abort_connection(net::tcp_stream& s);

}  // namespace corio::test
