// tests/tls/certs_none.cpp: no OpenSSL to make certificates with (Windows):
// the TLS tests skip.
#include "tls/certs.hpp"

namespace corio::test::tls {
const cert_set* certs() { return nullptr; }
}  // namespace corio::test::tls
