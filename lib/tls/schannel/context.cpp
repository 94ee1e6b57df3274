// lib/tls/schannel/context.cpp: tls::context on SChannel (SSPI). PEM text is
// decoded with CryptStringToBinaryA; certificates go into in-memory
// certificate stores; the server's private key is imported into a key
// container made for this context (CryptoAPI for RSA keys, CNG for EC keys)
// and bound to its certificate, which is how SChannel finds it.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>

#include "tls/schannel/schannel.hpp"

#include <ncrypt.h>  // after windows.h

namespace corio::tls {

namespace detail {

namespace {

std::unexpected<std::error_code> bad_credentials() noexcept {
  return fail(make_error_code(errc::bad_credentials));
}

struct pem_block {
  std::string_view label;  // "CERTIFICATE", "PRIVATE KEY", ...
  std::string_view text;   // from "-----BEGIN" to the end of "-----END ...-----"
};

// The PEM blocks of `pem`, in order.
std::vector<pem_block> pem_blocks(std::string_view pem) {
  std::vector<pem_block> out;
  constexpr std::string_view begin = "-----BEGIN ", dashes = "-----", end = "-----END ";
  std::size_t at = 0;
  while ((at = pem.find(begin, at)) != std::string_view::npos) {
    const std::size_t label_at = at + begin.size();
    const std::size_t label_end = pem.find(dashes, label_at);
    if (label_end == std::string_view::npos) break;
    const std::string_view label = pem.substr(label_at, label_end - label_at);
    const std::size_t stop = pem.find(end, label_end);
    if (stop == std::string_view::npos) break;
    const std::size_t stop_end = pem.find(dashes, stop + end.size());
    if (stop_end == std::string_view::npos) break;
    out.push_back({label, pem.substr(at, stop_end + dashes.size() - at)});
    at = stop_end + dashes.size();
  }
  return out;
}

// The DER bytes of one PEM block.
std::vector<BYTE> der_of(const pem_block& b) {
  DWORD size = 0;
  const auto len = static_cast<DWORD>(b.text.size());
  if (!CryptStringToBinaryA(b.text.data(), len, CRYPT_STRING_BASE64HEADER, nullptr, &size, nullptr,
                            nullptr)) {
    return {};
  }
  std::vector<BYTE> der(size);
  if (!CryptStringToBinaryA(b.text.data(), len, CRYPT_STRING_BASE64HEADER, der.data(), &size,
                            nullptr, nullptr)) {
    return {};
  }
  der.resize(size);
  return der;
}

bool read_file(const char* path, std::string& out) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

HCERTSTORE memory_store() noexcept {
  return CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, nullptr);
}

// A key container name no other context (or process) uses.
std::wstring unique_container() {
  static std::atomic<unsigned> counter{0};
  char name[96];
  std::snprintf(name, sizeof name, "corio-tls-%lu-%u-%llu", GetCurrentProcessId(),
                counter.fetch_add(1), static_cast<unsigned long long>(GetTickCount64()));
  return widen(name);
}

wchar_t rsa_provider[] = MS_ENH_RSA_AES_PROV_W;
wchar_t cng_provider[] = MS_KEY_STORAGE_PROVIDER;

// The public key of the key in a container, to compare with the
// certificate's (LocalAlloc'ed).
CERT_PUBLIC_KEY_INFO* public_key_of(HCRYPTPROV_OR_NCRYPT_KEY_HANDLE h, DWORD spec) {
  DWORD size = 0;
  if (!CryptExportPublicKeyInfo(h, spec, X509_ASN_ENCODING, nullptr, &size)) return nullptr;
  auto* info = static_cast<CERT_PUBLIC_KEY_INFO*>(LocalAlloc(LMEM_FIXED, size));
  if (info && !CryptExportPublicKeyInfo(h, spec, X509_ASN_ENCODING, info, &size)) {
    LocalFree(info);
    return nullptr;
  }
  return info;
}

// One DER element: its tag, and its contents within `der`.
struct der_element {
  BYTE tag = 0;
  const BYTE* data = nullptr;
  std::size_t size = 0;
};

// Reads the element at `p` (definite lengths up to 4 bytes), advancing `p`;
// false when it does not fit before `end`.
bool next_element(const BYTE*& p, const BYTE* end, der_element& out) {
  if (end - p < 2) return false;
  out.tag = *p++;
  std::size_t len = *p++;
  if (len & 0x80) {
    const std::size_t bytes = len & 0x7f;
    if (bytes == 0 || bytes > 4 || static_cast<std::size_t>(end - p) < bytes) return false;
    len = 0;
    for (std::size_t i = 0; i < bytes; ++i) len = (len << 8) | *p++;
  }
  if (static_cast<std::size_t>(end - p) < len) return false;
  out.data = p;
  out.size = len;
  p += len;
  return true;
}

// PKCS#8 PrivateKeyInfo: SEQUENCE { version INTEGER, algorithm SEQUENCE {
// OID, parameters }, privateKey OCTET STRING }. The algorithm's OID and the
// private key's bytes. (Parsed here: Wine's CryptDecodeObjectEx has no
// PKCS_PRIVATE_KEY_INFO.)
bool parse_pkcs8(const std::vector<BYTE>& der, der_element& oid, der_element& key) {
  const BYTE* p = der.data();
  const BYTE* end = p + der.size();
  der_element seq, version, algorithm;
  if (!next_element(p, end, seq) || seq.tag != 0x30) return false;
  p = seq.data;
  end = seq.data + seq.size;
  if (!next_element(p, end, version) || version.tag != 0x02) return false;
  if (!next_element(p, end, algorithm) || algorithm.tag != 0x30) return false;
  if (!next_element(p, end, key) || key.tag != 0x04) return false;
  const BYTE* a = algorithm.data;
  return next_element(a, algorithm.data + algorithm.size, oid) && oid.tag == 0x06;
}

// An RSA key (PKCS#1 DER) into a new CryptoAPI container.
bool import_rsa(const BYTE* der, DWORD size, imported_key& k) {
  BYTE* blob = nullptr;
  DWORD blob_size = 0;
  if (!CryptDecodeObjectEx(X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, PKCS_RSA_PRIVATE_KEY, der, size,
                           CRYPT_DECODE_ALLOC_FLAG, nullptr, &blob, &blob_size)) {
    return false;
  }
  HCRYPTPROV prov = 0;
  bool ok = CryptAcquireContextW(&prov, k.container.data(), rsa_provider, PROV_RSA_AES,
                                 CRYPT_NEWKEYSET | CRYPT_SILENT);
  if (ok) {
    HCRYPTKEY key = 0;
    ok = CryptImportKey(prov, blob, blob_size, 0, 0, &key);
    if (ok) CryptDestroyKey(key);
    if (ok) k.public_key = public_key_of(prov, AT_KEYEXCHANGE);
    ok = ok && k.public_key;
    CryptReleaseContext(prov, 0);
  }
  SecureZeroMemory(blob, blob_size);
  LocalFree(blob);
  return ok;
}

// A PKCS#8 key (EC) into a new, named CNG key.
bool import_cng(BYTE* der, DWORD size, imported_key& k) {
  NCRYPT_PROV_HANDLE prov = 0;
  if (NCryptOpenStorageProvider(&prov, cng_provider, 0) != ERROR_SUCCESS) return false;
  NCryptBuffer name{static_cast<ULONG>((k.container.size() + 1) * sizeof(wchar_t)),
                    NCRYPTBUFFER_PKCS_KEY_NAME, k.container.data()};
  NCryptBufferDesc params{NCRYPTBUFFER_VERSION, 1, &name};
  NCRYPT_KEY_HANDLE key = 0;
  bool ok = NCryptImportKey(prov, 0, NCRYPT_PKCS8_PRIVATE_KEY_BLOB, &params, &key, der, size,
                            NCRYPT_DO_NOT_FINALIZE_FLAG) == ERROR_SUCCESS;
  ok = ok && NCryptFinalizeKey(key, 0) == ERROR_SUCCESS;
  if (ok) k.public_key = public_key_of(key, CERT_NCRYPT_KEY_SPEC);
  ok = ok && k.public_key;
  if (key) {
    if (!ok) NCryptDeleteKey(key, 0);  // frees the handle too
    else NCryptFreeObject(key);
  }
  NCryptFreeObject(prov);
  return ok;
}

// Binds the imported key to the certificate once both are there; checks
// that they belong together.
result<void> bind_key(context_impl& c) noexcept {
  if (!c.leaf || c.key.container.empty()) return {};
  if (!CertComparePublicKeyInfo(X509_ASN_ENCODING, &c.leaf->pCertInfo->SubjectPublicKeyInfo,
                                c.key.public_key)) {
    return bad_credentials();  // the key does not match the certificate
  }
  CRYPT_KEY_PROV_INFO info{};
  info.pwszContainerName = c.key.container.data();
  info.pwszProvName = c.key.cng ? cng_provider : rsa_provider;
  info.dwProvType = c.key.cng ? 0 : PROV_RSA_AES;
  info.dwKeySpec = c.key.cng ? 0 : AT_KEYEXCHANGE;
  if (!CertSetCertificateContextProperty(c.leaf, CERT_KEY_PROV_INFO_PROP_ID, 0, &info)) {
    return bad_credentials();
  }
  return {};
}

result<void> add_trusted(context_impl& c, std::string_view pem) noexcept {
  try {
    if (!c.trusted && !(c.trusted = memory_store())) return bad_credentials();
    int added = 0;
    for (const auto& b : pem_blocks(pem)) {
      if (b.label != "CERTIFICATE") continue;
      auto der = der_of(b);
      if (der.empty() ||
          !CertAddEncodedCertificateToStore(c.trusted, X509_ASN_ENCODING, der.data(),
                                            static_cast<DWORD>(der.size()),
                                            CERT_STORE_ADD_USE_EXISTING, nullptr)) {
        return bad_credentials();
      }
      ++added;
    }
    if (added == 0) return bad_credentials();
    return {};
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
}

result<void> use_chain(context_impl& c, std::string_view pem) noexcept {
  try {
    HCERTSTORE store = memory_store();
    if (!store) return bad_credentials();
    PCCERT_CONTEXT leaf = nullptr;
    for (const auto& b : pem_blocks(pem)) {
      if (b.label != "CERTIFICATE") continue;
      auto der = der_of(b);
      // The leaf comes from the store, so its hCertStore holds the chain.
      if (der.empty() ||
          !CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, der.data(),
                                            static_cast<DWORD>(der.size()), CERT_STORE_ADD_ALWAYS,
                                            leaf ? nullptr : &leaf)) {
        if (leaf) CertFreeCertificateContext(leaf);
        CertCloseStore(store, 0);
        return bad_credentials();
      }
    }
    if (!leaf) {
      CertCloseStore(store, 0);
      return bad_credentials();
    }
    if (c.leaf) CertFreeCertificateContext(c.leaf);
    if (c.chain) CertCloseStore(c.chain, 0);
    c.leaf = leaf;
    c.chain = store;
    return bind_key(c);
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
}

result<void> use_key(context_impl& c, std::string_view pem) noexcept {
  try {
    imported_key k;
    k.container = unique_container();
    bool ok = false;
    for (const auto& b : pem_blocks(pem)) {
      if (b.label != "PRIVATE KEY" && b.label != "RSA PRIVATE KEY") continue;
      auto der = der_of(b);
      if (der.empty()) break;
      if (b.label == "RSA PRIVATE KEY") {
        ok = import_rsa(der.data(), static_cast<DWORD>(der.size()), k);
      } else {
        // PKCS#8: RSA inside goes to CryptoAPI, anything else (EC) to CNG.
        constexpr BYTE rsa_encryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
        der_element oid, key;
        if (parse_pkcs8(der, oid, key)) {
          if (oid.size == sizeof rsa_encryption &&
              std::memcmp(oid.data, rsa_encryption, oid.size) == 0) {
            ok = import_rsa(key.data, static_cast<DWORD>(key.size), k);
          } else {
            k.cng = true;
            ok = import_cng(der.data(), static_cast<DWORD>(der.size()), k);
          }
        }
      }
      SecureZeroMemory(der.data(), der.size());
      break;
    }
    if (!ok) {
      k.release();
      return bad_credentials();
    }
    c.key.release();
    c.key = std::move(k);
    return bind_key(c);
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
}

}  // namespace

std::string status_text(const char* call, SECURITY_STATUS s) {
  const char* name = nullptr;
  switch (s) {
    case SEC_E_UNSUPPORTED_FUNCTION: name = "SEC_E_UNSUPPORTED_FUNCTION"; break;
    case SEC_E_ILLEGAL_MESSAGE: name = "SEC_E_ILLEGAL_MESSAGE"; break;
    case SEC_E_ALGORITHM_MISMATCH: name = "SEC_E_ALGORITHM_MISMATCH"; break;
    case SEC_E_NO_CREDENTIALS: name = "SEC_E_NO_CREDENTIALS"; break;
    case SEC_E_UNKNOWN_CREDENTIALS: name = "SEC_E_UNKNOWN_CREDENTIALS"; break;
    case SEC_E_INTERNAL_ERROR: name = "SEC_E_INTERNAL_ERROR"; break;
    case SEC_E_DECRYPT_FAILURE: name = "SEC_E_DECRYPT_FAILURE"; break;
    case SEC_E_MESSAGE_ALTERED: name = "SEC_E_MESSAGE_ALTERED"; break;
    case SEC_E_INVALID_TOKEN: name = "SEC_E_INVALID_TOKEN"; break;
    case SEC_E_INVALID_HANDLE: name = "SEC_E_INVALID_HANDLE"; break;
    case SEC_E_CERT_EXPIRED: name = "SEC_E_CERT_EXPIRED"; break;
    case SEC_E_UNTRUSTED_ROOT: name = "SEC_E_UNTRUSTED_ROOT"; break;
    case SEC_E_WRONG_PRINCIPAL: name = "SEC_E_WRONG_PRINCIPAL"; break;
    case SEC_E_INSUFFICIENT_MEMORY: name = "SEC_E_INSUFFICIENT_MEMORY"; break;
    default: break;
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s returned 0x%08lx%s%s%s", call, static_cast<unsigned long>(s),
                name ? " (" : "", name ? name : "", name ? ")" : "");
  return buf;
}

std::wstring widen(std::string_view s) {
  std::wstring w;
  w.reserve(s.size());
  for (char c : s) w.push_back(static_cast<wchar_t>(static_cast<unsigned char>(c)));
  return w;
}

void imported_key::release() noexcept {
  if (!container.empty()) {
    if (cng) {
      NCRYPT_PROV_HANDLE prov = 0;
      if (NCryptOpenStorageProvider(&prov, cng_provider, 0) == ERROR_SUCCESS) {
        NCRYPT_KEY_HANDLE key = 0;
        if (NCryptOpenKey(prov, &key, container.c_str(), 0, 0) == ERROR_SUCCESS) {
          NCryptDeleteKey(key, 0);
        }
        NCryptFreeObject(prov);
      }
    } else {
      HCRYPTPROV prov = 0;
      CryptAcquireContextW(&prov, container.c_str(), rsa_provider, PROV_RSA_AES,
                           CRYPT_DELETEKEYSET | CRYPT_SILENT);
    }
    container.clear();
  }
  if (public_key) LocalFree(public_key);
  public_key = nullptr;
}

context_impl::~context_impl() {
  if (have_cred) FreeCredentialsHandle(&cred);
  if (leaf) CertFreeCertificateContext(leaf);
  if (chain) CertCloseStore(chain, 0);
  if (trusted) CertCloseStore(trusted, 0);
  key.release();
}

SECURITY_STATUS context_impl::acquire(CredHandle& out, bool& shared, std::string& detail) noexcept {
  std::lock_guard lock(cred_lock);
  // A client without resumption takes a handle of its own: SChannel keeps
  // sessions per credentials handle.
  const bool share = server || resume;
  if (have_cred && share) {
    out = cred;
    shared = true;
    return SEC_E_OK;
  }
  SCHANNEL_CRED sc{};
  sc.dwVersion = SCHANNEL_CRED_VERSION;
  PCCERT_CONTEXT certs[1] = {leaf};
  if (server) {
    if (!leaf || key.container.empty()) {
      detail = "the server context has no certificate and key";
      return SEC_E_NO_CREDENTIALS;
    }
    sc.cCreds = 1;
    sc.paCred = certs;
    sc.grbitEnabledProtocols = SP_PROT_TLS1_2_SERVER | SP_PROT_TLS1_3_SERVER;
  } else {
    // corio verifies the server's chain and name itself after the
    // handshake (CertGetCertificateChain, CertVerifyCertificateChainPolicy),
    // so that trust_pem's roots count.
    sc.dwFlags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS;
    sc.grbitEnabledProtocols = SP_PROT_TLS1_2_CLIENT | SP_PROT_TLS1_3_CLIENT;
  }
  wchar_t package[] = UNISP_NAME_W;
  const ULONG use = server ? SECPKG_CRED_INBOUND : SECPKG_CRED_OUTBOUND;
  CredHandle h{};
  TimeStamp expiry;
  SECURITY_STATUS s = AcquireCredentialsHandleW(nullptr, package, use, nullptr, &sc, nullptr,
                                                nullptr, &h, &expiry);
  if (s != SEC_E_OK) {
    // Systems without TLS 1.3 in SCHANNEL_CRED refuse the flag: TLS 1.2 only.
    sc.grbitEnabledProtocols = server ? SP_PROT_TLS1_2_SERVER : SP_PROT_TLS1_2_CLIENT;
    s = AcquireCredentialsHandleW(nullptr, package, use, nullptr, &sc, nullptr, nullptr, &h,
                                  &expiry);
  }
  if (s != SEC_E_OK) {
    detail = status_text("AcquireCredentialsHandle", s);
    return s;
  }
  if (share) {
    cred = h;
    have_cred = true;
  }
  out = h;
  shared = share;
  return SEC_E_OK;
}

}  // namespace detail

result<context> context::create(role r) noexcept {
  std::shared_ptr<detail::context_impl> impl;
  try {
    impl = std::make_shared<detail::context_impl>();
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  impl->server = r == role::server;
  impl->system_roots = !impl->server;
  return context(std::move(impl));
}

result<void> context::use_certificate_chain_file(const char* path) noexcept {
  std::string pem;
  try {
    if (!detail::read_file(path, pem)) return detail::bad_credentials();
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  return detail::use_chain(*impl_, pem);
}

result<void> context::use_private_key_file(const char* path) noexcept {
  std::string pem;
  try {
    if (!detail::read_file(path, pem)) return detail::bad_credentials();
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  auto r = detail::use_key(*impl_, pem);
  SecureZeroMemory(pem.data(), pem.size());
  return r;
}

result<void> context::use_certificate_chain_pem(std::string_view pem) noexcept {
  return detail::use_chain(*impl_, pem);
}

result<void> context::use_private_key_pem(std::string_view pem) noexcept {
  return detail::use_key(*impl_, pem);
}

result<void> context::trust_system_roots() noexcept {
  impl_->system_roots = true;
  return {};
}

result<void> context::trust_file(const char* path) noexcept {
  std::string pem;
  try {
    if (!detail::read_file(path, pem)) return detail::bad_credentials();
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  return detail::add_trusted(*impl_, pem);
}

result<void> context::trust_pem(std::string_view pem) noexcept {
  return detail::add_trusted(*impl_, pem);
}

void context::set_verify_peer(bool on) noexcept { impl_->verify = on; }

void context::set_session_resumption(bool on) noexcept { impl_->resume = on; }

result<void> context::set_alpn(std::span<const std::string_view> protocols) noexcept {
  try {
    std::vector<unsigned char> wire;
    for (auto p : protocols) {
      if (p.empty() || p.size() > 255) return fail(std::errc::invalid_argument);
      wire.push_back(static_cast<unsigned char>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    if (wire.size() > 0xffff) return fail(std::errc::invalid_argument);
    std::vector<unsigned char> blob;
    if (!wire.empty()) {
      // SEC_APPLICATION_PROTOCOLS holding one SEC_APPLICATION_PROTOCOL_LIST
      // (ALPN) with the names in wire format.
      constexpr std::size_t lists_at = offsetof(SEC_APPLICATION_PROTOCOLS, ProtocolLists);
      constexpr std::size_t names_at = offsetof(SEC_APPLICATION_PROTOCOL_LIST, ProtocolList);
      blob.resize(lists_at + names_at + wire.size());
      auto* p = reinterpret_cast<SEC_APPLICATION_PROTOCOLS*>(blob.data());
      p->ProtocolListsSize = static_cast<unsigned long>(names_at + wire.size());
      p->ProtocolLists[0].ProtoNegoExt = SecApplicationProtocolNegotiationExt_ALPN;
      p->ProtocolLists[0].ProtocolListSize = static_cast<unsigned short>(wire.size());
      std::memcpy(blob.data() + lists_at + names_at, wire.data(), wire.size());
    }
    impl_->alpn = std::move(blob);
    return {};
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
}

void* context::native_handle() const noexcept {
  if (!impl_) return nullptr;
  std::lock_guard lock(impl_->cred_lock);
  return impl_->have_cred ? &impl_->cred : nullptr;
}

}  // namespace corio::tls
