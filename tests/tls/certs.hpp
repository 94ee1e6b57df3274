// tests/tls/certs.hpp: certificates made at run time for the TLS tests (no
// key that anything trusts is committed). One private CA signs a server
// certificate for localhost / 127.0.0.1 and an expired one; a self-signed
// certificate stands apart. PEM text in memory, and the same in files in a
// temporary folder (removed at exit) for the openssl command and curl.
#pragma once

#include <string>

namespace corio::test::tls {

struct credentials {
  std::string cert_pem, key_pem;
  std::string cert_file, key_file;
};

struct cert_set {
  std::string ca_pem, ca_file;
  credentials server;       // CA-signed, for DNS:localhost and IP:127.0.0.1
  credentials expired;      // CA-signed, for localhost, expired yesterday
  credentials self_signed;  // for localhost, signed by itself
};

/// The process's certificates, made on first use. Null where this
/// platform's tests cannot make certificates (no OpenSSL: Windows).
const cert_set* certs();

}  // namespace corio::test::tls
