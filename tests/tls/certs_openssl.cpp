// tests/tls/certs_openssl.cpp: making the test certificates with OpenSSL.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "tls/certs.hpp"

namespace corio::test::tls {
namespace {

struct key_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct cert_free {
  void operator()(X509* c) const noexcept { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using cert_ptr = std::unique_ptr<X509, cert_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what);
}

key_ptr new_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  check(k != nullptr, "EVP_EC_gen");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key`, signed by `issuer_key` (itself when issuer is
// null), valid from `from_days` to `to_days` from now.
cert_ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                   long from_days, long to_days) {
  static long serial = 1;
  cert_ptr c(X509_new());
  check(c != nullptr, "X509_new");
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), to_days * 86400);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(signer));
  add_ext(c.get(), signer, NID_subject_key_identifier, "hash");
  add_ext(c.get(), signer, NID_authority_key_identifier, "keyid:always");
  if (ca) {
    add_ext(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c.get(), signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    add_ext(c.get(), signer, NID_ext_key_usage, "serverAuth");
  }
  check(X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return c;
}

std::string pem_of(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

std::string pem_of(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

std::string write_file(const std::filesystem::path& dir, const char* name, const std::string& text) {
  auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

// The certificates and their folder, removed when the process exits.
struct holder {
  cert_set set;
  std::filesystem::path dir;
  holder() {
    char tmpl[] = "/tmp/corio-tls-XXXXXX";
    check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    dir = tmpl;
    auto ca_key = new_key();
    auto ca = make_cert(ca_key.get(), "corio test CA", nullptr, nullptr, true, -1, 30);
    set.ca_pem = pem_of(ca.get());
    set.ca_file = write_file(dir, "ca.pem", set.ca_pem);
    auto fill = [&](credentials& c, const char* stem, EVP_PKEY* key, X509* cert) {
      c.cert_pem = pem_of(cert);
      c.key_pem = pem_of(key);
      c.cert_file = write_file(dir, (std::string(stem) + ".pem").c_str(), c.cert_pem);
      c.key_file = write_file(dir, (std::string(stem) + ".key").c_str(), c.key_pem);
    };
    auto server_key = new_key();
    auto server = make_cert(server_key.get(), "localhost", ca.get(), ca_key.get(), false, -1, 30);
    fill(set.server, "server", server_key.get(), server.get());
    auto expired_key = new_key();
    auto expired = make_cert(expired_key.get(), "localhost", ca.get(), ca_key.get(), false, -3, -1);
    fill(set.expired, "expired", expired_key.get(), expired.get());
    auto self_key = new_key();
    auto self = make_cert(self_key.get(), "localhost", nullptr, nullptr, false, -1, 30);
    fill(set.self_signed, "self", self_key.get(), self.get());
  }
  ~holder() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

const cert_set* certs() {
  static holder h;
  return &h.set;
}

}  // namespace corio::test::tls
