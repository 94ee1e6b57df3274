// lib/tls/schannel/schannel.hpp: the SChannel side's shared state (Windows).
#pragma once

#ifndef SECURITY_WIN32
#define SECURITY_WIN32
#endif
#include <windows.h>
#include <wincrypt.h>
#include <schannel.h>
#include <security.h>
#include <sspi.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "corio/tls/context.hpp"

namespace corio::tls::detail {

// Where the private key of the server's certificate lives: a key container
// made for this context (CryptoAPI for RSA, CNG for EC), deleted with it.
// SChannel signs with the key through the certificate's
// CERT_KEY_PROV_INFO_PROP_ID, which names a container; an ephemeral key
// handle is not enough for it.
struct imported_key {
  std::wstring container;
  bool cng = false;  // CNG (NCrypt) key: EC; otherwise CryptoAPI RSA
  CERT_PUBLIC_KEY_INFO* public_key = nullptr;  // LocalAlloc'ed, to match the certificate
  void release() noexcept;
};

struct context_impl {
  bool server = false;
  bool verify = true;
  bool resume = true;
  bool system_roots = true;  // a client trusts the system's roots by default
  // The certificates trust_file / trust_pem added (a memory store), or null.
  HCERTSTORE trusted = nullptr;
  // The server's certificate (with its key bound to it) and the rest of its
  // chain, in a memory store.
  PCCERT_CONTEXT leaf = nullptr;
  HCERTSTORE chain = nullptr;
  imported_key key;
  // ALPN as SChannel takes it: a SEC_APPLICATION_PROTOCOLS blob, or empty.
  std::vector<unsigned char> alpn;

  // The credentials handle, acquired by the first stream (the setters come
  // before); SChannel keeps its session cache per handle and target name.
  std::mutex cred_lock;
  CredHandle cred{};
  bool have_cred = false;

  context_impl() = default;
  context_impl(const context_impl&) = delete;
  context_impl& operator=(const context_impl&) = delete;
  ~context_impl();

  // A credentials handle for a new stream: the shared one, or (a client
  // without resumption) a fresh one the caller frees. The status text of a
  // failure in `detail`.
  SECURITY_STATUS acquire(CredHandle& out, bool& shared, std::string& detail) noexcept;
};

// "Call returned 0x80090302 (SEC_E_UNSUPPORTED_FUNCTION)", for failure_detail.
std::string status_text(const char* call, SECURITY_STATUS s);

// ASCII widened to UTF-16 (host names; container names).
std::wstring widen(std::string_view s);

}  // namespace corio::tls::detail
