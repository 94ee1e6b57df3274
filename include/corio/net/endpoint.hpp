// corio/net/endpoint.hpp: an IPv4 or IPv6 address and port.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "corio/result.hpp"

namespace corio::net {

/// An IP address (v4 or v6) with a port: what a listener binds to and a
/// stream connects to. A plain value; parsing and formatting never touch the
/// network.
class endpoint {
 public:
  enum class family : std::uint8_t { v4, v6 };

  /// 0.0.0.0:0.
  endpoint() noexcept = default;

  /// Parses "1.2.3.4:80", "[::1]:80" or "[fe80::1%2]:80". The port is
  /// required and must be 0-65535. Anything else gives errc::invalid_endpoint.
  static result<endpoint> parse(std::string_view text);
  /// Parses an address without a port ("127.0.0.1", "::1") and adds `port`.
  static result<endpoint> parse(std::string_view address, std::uint16_t port);

  static endpoint v4(std::array<std::uint8_t, 4> addr, std::uint16_t port) noexcept;
  static endpoint v6(std::array<std::uint8_t, 16> addr, std::uint16_t port,
                     std::uint32_t scope_id = 0) noexcept;
  /// 127.0.0.1:port and [::1]:port.
  static endpoint loopback_v4(std::uint16_t port) noexcept;
  static endpoint loopback_v6(std::uint16_t port) noexcept;

  family af() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == family::v4; }
  std::uint16_t port() const noexcept { return port_; }
  void set_port(std::uint16_t p) noexcept { port_ = p; }
  /// The address bytes in network order: the first 4 for v4, all 16 for v6.
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return addr_; }
  std::uint32_t scope_id() const noexcept { return scope_id_; }

  /// The address alone: "127.0.0.1", "::1" (RFC 5952 form).
  std::string address_string() const;
  /// "127.0.0.1:80" or "[::1]:80": what parse() accepts.
  std::string to_string() const;

  friend bool operator==(const endpoint&, const endpoint&) = default;

 private:
  std::array<std::uint8_t, 16> addr_{};
  std::uint32_t scope_id_ = 0;
  std::uint16_t port_ = 0;
  family family_ = family::v4;
};

}  // namespace corio::net
