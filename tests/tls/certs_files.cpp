// tests/tls/certs_files.cpp (Windows): no OpenSSL to make certificates with,
// so the test wrapper (tests/tls/schannel_wine.sh) makes them with the
// openssl command on the Linux side and names their folder in
// CORIO_TLS_TEST_CERTS. Without it the TLS tests skip.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tls/certs.hpp"

namespace corio::test::tls {
namespace {

std::string read_text(const std::string& path) {
  std::string out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

bool load(const std::string& dir, const char* stem, credentials& c) {
  c.cert_file = dir + "/" + stem + ".pem";
  c.key_file = dir + "/" + stem + ".key";
  c.cert_pem = read_text(c.cert_file);
  c.key_pem = read_text(c.key_file);
  return !c.cert_pem.empty() && !c.key_pem.empty();
}

struct holder {
  cert_set set;
  bool ok = false;
  holder() {
    const char* dir = std::getenv("CORIO_TLS_TEST_CERTS");
    if (!dir || !*dir) return;
    set.ca_file = std::string(dir) + "/ca.pem";
    set.ca_pem = read_text(set.ca_file);
    ok = !set.ca_pem.empty() && load(dir, "server", set.server) &&
         load(dir, "expired", set.expired) && load(dir, "self", set.self_signed);
  }
};

}  // namespace

const cert_set* certs() {
  static holder h;
  return h.ok ? &h.set : nullptr;
}

}  // namespace corio::test::tls
