// tests/tls/engine_probe.cpp: a client and a server engine handshake
// through memory (corio's own engine contract, no sockets), to find out
// whether the platform can serve TLS at all; the same helpers serve the
// engine tests.
#include "tls/engine_probe.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "corio/tls/context.hpp"
#include "corio/tls/error.hpp"

namespace corio::test::tls {

namespace d = corio::tls::detail;

std::optional<context_pair> make_contexts(const cert_set& certs) {
  auto server = corio::tls::context::create(corio::tls::role::server);
  auto client = corio::tls::context::create(corio::tls::role::client);
  if (!server || !client || !server->use_certificate_chain_pem(certs.server.cert_pem) ||
      !server->use_private_key_pem(certs.server.key_pem) || !client->trust_pem(certs.ca_pem)) {
    return std::nullopt;
  }
  return context_pair{std::move(*server), std::move(*client)};
}

void pump(d::engine& from, d::engine& to) {
  for (;;) {
    auto out = d::output(from);
    if (out.empty()) return;
    auto room = d::input_space(to);
    const std::size_t n = std::min(out.size(), room.size());
    if (n == 0) return;
    std::memcpy(room.data(), out.data(), n);
    d::input_received(to, n);
    d::output_sent(from, n);
  }
}

d::step handshake_through_memory(d::engine& client, d::engine& server) {
  bool client_done = false, server_done = false;
  for (int round = 0; round < 10 && !(client_done && server_done); ++round) {
    if (!client_done) {
      auto s = d::handshake(client);
      if (s.st == d::status::ok) client_done = true;
      if (s.st == d::status::failed) return s;
    }
    pump(client, server);
    if (!server_done) {
      auto s = d::handshake(server);
      if (s.st == d::status::ok) server_done = true;
      if (s.st == d::status::failed) return s;
    }
    pump(server, client);
  }
  if (client_done && server_done) return d::make_step(d::status::ok);
  return d::failed_step(make_error_code(corio::tls::errc::handshake_failed));
}

namespace {

std::string probe(const cert_set& certs) {
  auto ctx = make_contexts(certs);
  if (!ctx) return {};  // the tests report this themselves
  ctx->client.set_verify_peer(false);  // the question is the server side alone
  auto client = d::make_engine(ctx->client.impl(), false, "localhost");
  auto server = d::make_engine(ctx->server.impl(), true, {});
  if (!client || !server) return {};
  const auto s = handshake_through_memory(**client, **server);
  if (s.st == d::status::failed && s.ec == corio::tls::errc::not_supported) {
    return std::string(d::failure_detail(**server));
  }
  return {};
}

}  // namespace

const std::string& server_side_blocked(const cert_set& certs) {
  static const std::string blocked = probe(certs);
  return blocked;
}

}  // namespace corio::test::tls
