// lib/tls/schannel/engine.cpp: the TLS engine on SChannel (SSPI). The
// handshake is InitializeSecurityContextW (client) or AcceptSecurityContext
// (server) fed from the input queue; records are DecryptMessage'd in place
// in the input queue and EncryptMessage'd in place in the output queue, so
// ciphertext is never copied and nothing is allocated per record. The
// client verifies the server's chain and name itself after the handshake
// (CertGetCertificateChain, CertVerifyCertificateChainPolicy), so that the
// roots added by trust_pem count.
#include <ws2tcpip.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "corio/tls/detail/engine.hpp"
#include "corio/tls/error.hpp"
#include "tls/schannel/schannel.hpp"

namespace corio::tls::detail {

namespace {
// As on OpenSSL: each queue holds at least one whole record (16 KiB of data
// plus header and trailer).
constexpr std::size_t input_queue_size = 33 * 1024;
constexpr std::size_t output_queue_size = 33 * 1024;

constexpr ULONG client_flags = ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT |
                               ISC_REQ_CONFIDENTIALITY | ISC_REQ_ALLOCATE_MEMORY |
                               ISC_REQ_STREAM | ISC_REQ_EXTENDED_ERROR |
                               ISC_REQ_MANUAL_CRED_VALIDATION;
constexpr ULONG server_flags = ASC_REQ_SEQUENCE_DETECT | ASC_REQ_REPLAY_DETECT |
                               ASC_REQ_CONFIDENTIALITY | ASC_REQ_ALLOCATE_MEMORY |
                               ASC_REQ_STREAM | ASC_REQ_EXTENDED_ERROR;

// SSL_EXTRA_CERT_CHAIN_POLICY_PARA::fdwChecks: accept a root that is not in
// the system's store (SECURITY_FLAG_IGNORE_UNKNOWN_CA, from wininet.h); used
// only once corio has found the root among the trusted certificates.
constexpr DWORD ignore_unknown_ca = 0x00000100;

bool is_ip_address(std::string_view name) {
  return name.find(':') != std::string_view::npos ||
         name.find_first_not_of("0123456789.") == std::string_view::npos;
}

// The IP address `name` in network order (4 or 16 bytes), or empty.
std::vector<BYTE> ip_bytes(const std::string& name) {
  std::vector<BYTE> out;
  in_addr v4{};
  in6_addr v6{};
  if (InetPtonA(AF_INET, name.c_str(), &v4) == 1) {
    out.assign(reinterpret_cast<BYTE*>(&v4), reinterpret_cast<BYTE*>(&v4) + sizeof v4);
  } else if (InetPtonA(AF_INET6, name.c_str(), &v6) == 1) {
    out.assign(reinterpret_cast<BYTE*>(&v6), reinterpret_cast<BYTE*>(&v6) + sizeof v6);
  }
  return out;
}

// Whether the certificate lists `ip` among its subjectAltName IP addresses.
bool certificate_has_ip(PCCERT_CONTEXT cert, const std::vector<BYTE>& ip) {
  if (ip.empty()) return false;
  const CERT_EXTENSION* ext = CertFindExtension(szOID_SUBJECT_ALT_NAME2,
                                                cert->pCertInfo->cExtension,
                                                cert->pCertInfo->rgExtension);
  if (!ext) return false;
  CERT_ALT_NAME_INFO* names = nullptr;
  DWORD size = 0;
  if (!CryptDecodeObjectEx(X509_ASN_ENCODING, X509_ALTERNATE_NAME, ext->Value.pbData,
                           ext->Value.cbData, CRYPT_DECODE_ALLOC_FLAG, nullptr, &names, &size)) {
    return false;
  }
  bool found = false;
  for (DWORD i = 0; i < names->cAltEntry && !found; ++i) {
    const CERT_ALT_NAME_ENTRY& e = names->rgAltEntry[i];
    found = e.dwAltNameChoice == CERT_ALT_NAME_IP_ADDRESS && e.IPAddress.cbData == ip.size() &&
            std::memcmp(e.IPAddress.pbData, ip.data(), ip.size()) == 0;
  }
  LocalFree(names);
  return found;
}

std::string chain_error_text(DWORD errors) {
  if (errors & CERT_TRUST_IS_NOT_TIME_VALID) return "certificate has expired or is not yet valid";
  if (errors & CERT_TRUST_IS_UNTRUSTED_ROOT) return "self-signed or signed by an untrusted root";
  if (errors & CERT_TRUST_IS_PARTIAL_CHAIN) return "unable to get the issuer certificate";
  if (errors & CERT_TRUST_IS_REVOKED) return "certificate revoked";
  if (errors & CERT_TRUST_IS_NOT_SIGNATURE_VALID) return "certificate signature failure";
  if (errors & CERT_TRUST_IS_NOT_VALID_FOR_USAGE) return "certificate not valid for TLS servers";
  char buf[64];
  std::snprintf(buf, sizeof buf, "certificate chain error status 0x%08lx",
                static_cast<unsigned long>(errors));
  return buf;
}

}  // namespace

struct engine {
  std::mutex lock;  // every SSPI call on `sec`, and the queues' bookkeeping
  std::shared_ptr<context_impl> ctx;
  bool server = false;
  CredHandle cred{};
  bool own_cred = false;  // a client without resumption: a handle of its own
  CtxtHandle sec{};
  bool have_sec = false;
  std::string name;    // the client's server name
  std::wstring wname;  // the same, as SSPI's target name
  std::string detail;  // the last failure, in SSPI's or the chain's words
  std::string chosen_alpn;
  SecPkgContext_StreamSizes sizes{};
  bool established = false;   // the handshake completed (and verified)
  bool sent_shutdown = false;  // our close_notify is queued
  bool peer_closed = false;    // the peer's close_notify arrived
  bool input_eof = false;      // the transport ended
  bool broken = false;         // a failure: no more records
  bool was_resumed = false;

  // The input queue: consumed | plaintext [plain_begin, plain_end) |
  // ciphertext [cipher_begin, cipher_end) | free room. DecryptMessage
  // decrypts in place, so plaintext waits where its record was.
  std::size_t plain_begin = 0, plain_end = 0, cipher_begin = 0, cipher_end = 0;
  // The output queue: [out_begin, out_end) waits to be sent.
  std::size_t out_begin = 0, out_end = 0;
  // A handshake message too large for the output queue (a long certificate
  // chain), sent straight from SChannel's buffer.
  BYTE* big_token = nullptr;
  std::size_t big_size = 0, big_sent = 0;

  std::array<std::byte, input_queue_size> in;
  std::array<std::byte, output_queue_size> out;

  ~engine() {
    if (have_sec) DeleteSecurityContext(&sec);
    if (own_cred) FreeCredentialsHandle(&cred);
    if (big_token) FreeContextBuffer(big_token);
  }

  step fail_with(errc e, std::string text) {
    broken = true;
    detail = std::move(text);
    return failed_step(make_error_code(e));
  }

  // Queues the tokens SChannel produced (handshake messages, alerts,
  // close_notify) and frees its buffers. False: no room for them.
  bool take_tokens(SecBufferDesc& desc) {
    bool ok = true;
    for (ULONG i = 0; i < desc.cBuffers; ++i) {
      SecBuffer& b = desc.pBuffers[i];
      if (!b.pvBuffer) continue;
      if ((b.BufferType == SECBUFFER_TOKEN || b.BufferType == SECBUFFER_ALERT) && b.cbBuffer > 0) {
        if (out_begin == out_end) out_begin = out_end = 0;
        if (output_queue_size - out_end >= b.cbBuffer && !big_token) {
          std::memcpy(out.data() + out_end, b.pvBuffer, b.cbBuffer);
          out_end += b.cbBuffer;
        } else if (out_begin == out_end && !big_token) {
          big_token = static_cast<BYTE*>(b.pvBuffer);
          big_size = b.cbBuffer;
          big_sent = 0;
          b.pvBuffer = nullptr;
          continue;
        } else {
          ok = false;
        }
      }
      FreeContextBuffer(b.pvBuffer);
      b.pvBuffer = nullptr;
    }
    return ok;
  }

  // What an SSPI call left unread (SECBUFFER_EXTRA) stays in the queue;
  // the rest was consumed.
  void keep_extra(const SecBufferDesc& desc) {
    std::size_t extra = 0;
    for (ULONG i = 0; i < desc.cBuffers; ++i) {
      if (desc.pBuffers[i].BufferType == SECBUFFER_EXTRA) extra = desc.pBuffers[i].cbBuffer;
    }
    cipher_begin = cipher_end - std::min(extra, cipher_end - cipher_begin);
  }

  // The call needs more ciphertext: make room for it (only the reading
  // side moves the input queue, and only with no plaintext waiting).
  step need_input(bool handshaking) {
    if (input_eof) {
      return fail_with(errc::truncated, handshaking
                                            ? "the peer closed the connection during the handshake"
                                            : "the peer closed the connection without close_notify");
    }
    if (plain_begin == plain_end) {
      const std::size_t n = cipher_end - cipher_begin;
      if (cipher_begin > 0 && n > 0) std::memmove(in.data(), in.data() + cipher_begin, n);
      plain_begin = plain_end = 0;
      cipher_begin = 0;
      cipher_end = n;
    }
    if (cipher_end == input_queue_size) {
      return fail_with(errc::protocol_error, "a TLS record larger than the input queue");
    }
    return make_step(status::want_read);
  }

  // One InitializeSecurityContextW / AcceptSecurityContext call on the
  // queued ciphertext (none on the client's first call).
  SECURITY_STATUS handshake_call(bool first, SecBufferDesc& in_desc, SecBufferDesc& out_desc) {
    ULONG attrs = 0;
    TimeStamp expiry;
    if (server) {
      const SECURITY_STATUS s = AcceptSecurityContext(&cred, have_sec ? &sec : nullptr, &in_desc,
                                                      server_flags, 0, &sec, &out_desc, &attrs,
                                                      &expiry);
      have_sec = true;
      return s;
    }
    SECURITY_STATUS s = InitializeSecurityContextW(
        &cred, first ? nullptr : &sec, wname.empty() ? nullptr : wname.data(), client_flags, 0, 0,
        (first && in_desc.cBuffers == 0) ? nullptr : &in_desc, 0, &sec, &out_desc, &attrs,
        &expiry);
    have_sec = true;
    return s;
  }

  step handshake_step() {
    for (int rounds = 0; rounds < 64; ++rounds) {
      const bool first = !have_sec;
      const std::size_t queued = cipher_end - cipher_begin;
      if (!(first && !server) && queued == 0) return need_input(true);
      std::array<SecBuffer, 3> inb{};
      ULONG in_count = 0;
      if (!(first && !server)) {
        inb[in_count++] = {static_cast<ULONG>(queued), SECBUFFER_TOKEN, in.data() + cipher_begin};
        inb[in_count++] = {0, SECBUFFER_EMPTY, nullptr};
      }
      if (first && !ctx->alpn.empty()) {
        inb[in_count++] = {static_cast<ULONG>(ctx->alpn.size()), SECBUFFER_APPLICATION_PROTOCOLS,
                           ctx->alpn.data()};
      }
      SecBufferDesc in_desc{SECBUFFER_VERSION, in_count, inb.data()};
      std::array<SecBuffer, 2> outb{{{0, SECBUFFER_TOKEN, nullptr}, {0, SECBUFFER_ALERT, nullptr}}};
      SecBufferDesc out_desc{SECBUFFER_VERSION, 2, outb.data()};
      const SECURITY_STATUS s = handshake_call(first, in_desc, out_desc);
      const bool queued_ok = take_tokens(out_desc);
      const char* call = server ? "AcceptSecurityContext" : "InitializeSecurityContext";
      if (!queued_ok) return fail_with(errc::protocol_error, "a handshake message did not fit");
      switch (s) {
        case SEC_E_OK:
          if (!(first && !server)) keep_extra(in_desc);
          return finish_handshake();
        case SEC_I_CONTINUE_NEEDED:
          if (!(first && !server)) keep_extra(in_desc);
          if (cipher_begin == cipher_end) return need_input(true);  // after sending the token
          continue;
        case SEC_E_INCOMPLETE_MESSAGE: return need_input(true);
        case SEC_I_INCOMPLETE_CREDENTIALS: continue;  // asked for a client certificate: none
        case SEC_E_UNSUPPORTED_FUNCTION:
          return fail_with(errc::not_supported, status_text(call, s));
        case SEC_E_CERT_EXPIRED:
        case SEC_E_UNTRUSTED_ROOT:
        case SEC_E_CERT_UNKNOWN:
          return fail_with(errc::certificate_rejected, status_text(call, s));
        case SEC_E_WRONG_PRINCIPAL: return fail_with(errc::host_name_mismatch, status_text(call, s));
        default:
          if (input_eof) return fail_with(errc::truncated, status_text(call, s));
          return fail_with(errc::handshake_failed, status_text(call, s));
      }
    }
    return fail_with(errc::handshake_failed, "the handshake did not converge");
  }

  step finish_handshake() {
    SECURITY_STATUS s = QueryContextAttributesW(&sec, SECPKG_ATTR_STREAM_SIZES, &sizes);
    if (s != SEC_E_OK) {
      return fail_with(errc::handshake_failed, status_text("QueryContextAttributes(STREAM_SIZES)", s));
    }
    if (!ctx->alpn.empty()) {
      SecPkgContext_ApplicationProtocol proto{};
      if (QueryContextAttributesW(&sec, SECPKG_ATTR_APPLICATION_PROTOCOL, &proto) == SEC_E_OK &&
          proto.ProtoNegoStatus == SecApplicationProtocolNegotiationStatus_Success) {
        chosen_alpn.assign(reinterpret_cast<const char*>(proto.ProtocolId), proto.ProtocolIdSize);
      }
    }
    SecPkgContext_SessionInfo session{};
    if (QueryContextAttributesW(&sec, SECPKG_ATTR_SESSION_INFO, &session) == SEC_E_OK) {
      was_resumed = (session.dwFlags & SSL_SESSION_RECONNECT) != 0;
    }
    if (!server && ctx->verify) {
      if (step v = verify_server(); v.st == status::failed) return v;
    }
    established = true;
    return make_step(status::ok);
  }

  // The server's chain (to the system's roots or the trusted ones) and its
  // name, after the handshake.
  step verify_server() {
    PCCERT_CONTEXT peer = nullptr;
    SECURITY_STATUS s = QueryContextAttributesW(&sec, SECPKG_ATTR_REMOTE_CERT_CONTEXT, &peer);
    if (s != SEC_E_OK || !peer) {
      return fail_with(errc::certificate_rejected,
                       status_text("QueryContextAttributes(REMOTE_CERT_CONTEXT)", s));
    }
    HCERTSTORE extra = CertOpenStore(CERT_STORE_PROV_COLLECTION, 0, 0, 0, nullptr);
    if (extra && peer->hCertStore) CertAddStoreToCollection(extra, peer->hCertStore, 0, 0);
    if (extra && ctx->trusted) CertAddStoreToCollection(extra, ctx->trusted, 0, 0);
    char server_auth[] = szOID_PKIX_KP_SERVER_AUTH;
    LPSTR usages[] = {server_auth};
    CERT_CHAIN_PARA para{};
    para.cbSize = sizeof para;
    para.RequestedUsage.dwType = USAGE_MATCH_TYPE_AND;
    para.RequestedUsage.Usage.cUsageIdentifier = 1;
    para.RequestedUsage.Usage.rgpszUsageIdentifier = usages;
    PCCERT_CHAIN_CONTEXT chain = nullptr;
    step result = make_step(status::ok);
    if (!CertGetCertificateChain(nullptr, peer, nullptr, extra, &para, 0, nullptr, &chain)) {
      result = fail_with(errc::certificate_rejected, "CertGetCertificateChain failed");
    } else {
      result = check_chain(peer, chain);
      CertFreeCertificateChain(chain);
    }
    if (extra) CertCloseStore(extra, 0);
    CertFreeCertificateContext(peer);
    return result;
  }

  step check_chain(PCCERT_CONTEXT peer, PCCERT_CHAIN_CONTEXT chain) {
    DWORD errors = chain->TrustStatus.dwErrorStatus &
                   ~static_cast<DWORD>(CERT_TRUST_REVOCATION_STATUS_UNKNOWN |
                                       CERT_TRUST_IS_OFFLINE_REVOCATION);
    // A root we were told to trust (trust_pem, trust_file) is trusted even
    // though the system's root store does not hold it.
    bool our_root = false;
    if (chain->cChain > 0 && chain->rgpChain[0]->cElement > 0 && ctx->trusted) {
      const CERT_SIMPLE_CHAIN* simple = chain->rgpChain[0];
      PCCERT_CONTEXT root = simple->rgpElement[simple->cElement - 1]->pCertContext;
      if (PCCERT_CONTEXT found = CertFindCertificateInStore(ctx->trusted, X509_ASN_ENCODING, 0,
                                                            CERT_FIND_EXISTING, root, nullptr)) {
        our_root = true;
        CertFreeCertificateContext(found);
      }
    }
    if (our_root) errors &= ~static_cast<DWORD>(CERT_TRUST_IS_UNTRUSTED_ROOT);
    else if (!ctx->system_roots) errors |= CERT_TRUST_IS_UNTRUSTED_ROOT;
    if (errors != 0) return fail_with(errc::certificate_rejected, chain_error_text(errors));

    const bool ip = is_ip_address(name);
    SSL_EXTRA_CERT_CHAIN_POLICY_PARA ssl{};
    ssl.cbSize = sizeof ssl;
    ssl.dwAuthType = AUTHTYPE_SERVER;
    ssl.fdwChecks = our_root ? ignore_unknown_ca : 0;
    ssl.pwszServerName = (ip || wname.empty()) ? nullptr : wname.data();
    CERT_CHAIN_POLICY_PARA policy{};
    policy.cbSize = sizeof policy;
    policy.pvExtraPolicyPara = &ssl;
    CERT_CHAIN_POLICY_STATUS st{};
    st.cbSize = sizeof st;
    if (!CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, chain, &policy, &st)) {
      return fail_with(errc::certificate_rejected, "CertVerifyCertificateChainPolicy failed");
    }
    if (st.dwError == static_cast<DWORD>(CERT_E_CN_NO_MATCH)) {
      return fail_with(errc::host_name_mismatch, "certificate is not valid for " + name);
    }
    if (st.dwError != 0) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "CertVerifyCertificateChainPolicy(SSL): 0x%08lx",
                    static_cast<unsigned long>(st.dwError));
      return fail_with(errc::certificate_rejected, buf);
    }
    // The SSL policy matches DNS names; an IP address is matched here,
    // against the certificate's subjectAltName IP entries.
    if (ip && !name.empty() && !certificate_has_ip(peer, ip_bytes(name))) {
      return fail_with(errc::host_name_mismatch, "certificate is not valid for " + name);
    }
    return make_step(status::ok);
  }

  // DecryptMessage said SEC_I_RENEGOTIATE: a post-handshake message (a TLS
  // 1.3 session ticket or key update) in the extra bytes goes back to the
  // handshake call. What it answers waits in the output queue for the next
  // write (a read never sends).
  step post_handshake_message() {
    const std::size_t queued = cipher_end - cipher_begin;
    std::array<SecBuffer, 2> inb{{{static_cast<ULONG>(queued), SECBUFFER_TOKEN,
                                   queued ? in.data() + cipher_begin : nullptr},
                                  {0, SECBUFFER_EMPTY, nullptr}}};
    SecBufferDesc in_desc{SECBUFFER_VERSION, 2, inb.data()};
    std::array<SecBuffer, 2> outb{{{0, SECBUFFER_TOKEN, nullptr}, {0, SECBUFFER_ALERT, nullptr}}};
    SecBufferDesc out_desc{SECBUFFER_VERSION, 2, outb.data()};
    const SECURITY_STATUS s = handshake_call(false, in_desc, out_desc);
    if (!take_tokens(out_desc)) return fail_with(errc::protocol_error, "a reply did not fit");
    if (s == SEC_E_OK || s == SEC_I_CONTINUE_NEEDED) {
      keep_extra(in_desc);
      return make_step(status::ok);
    }
    if (s == SEC_E_INCOMPLETE_MESSAGE) return make_step(status::want_read);
    return fail_with(errc::protocol_error,
                     status_text(server ? "AcceptSecurityContext" : "InitializeSecurityContext", s));
  }

  step read_step(void* data, std::size_t size) {
    for (;;) {
      if (plain_begin < plain_end) {
        const std::size_t n = std::min(size, plain_end - plain_begin);
        std::memcpy(data, in.data() + plain_begin, n);
        plain_begin += n;
        return make_step(status::ok, n);
      }
      if (peer_closed) return make_step(status::closed);
      if (broken || !established) return failed_step(make_error_code(errc::protocol_error));
      if (cipher_begin == cipher_end) return need_input(false);
      // TLS 1.2 shows a record's type in its header: 21 is an alert.
      const bool alert_record = in[cipher_begin] == std::byte{21};
      std::array<SecBuffer, 4> b{{{static_cast<ULONG>(cipher_end - cipher_begin), SECBUFFER_DATA,
                                   in.data() + cipher_begin},
                                  {0, SECBUFFER_EMPTY, nullptr},
                                  {0, SECBUFFER_EMPTY, nullptr},
                                  {0, SECBUFFER_EMPTY, nullptr}}};
      SecBufferDesc desc{SECBUFFER_VERSION, 4, b.data()};
      const SECURITY_STATUS s = DecryptMessage(&sec, &desc, 0, nullptr);
      if (s == SEC_E_INCOMPLETE_MESSAGE) return need_input(false);
      if (s != SEC_E_OK && s != SEC_I_RENEGOTIATE && s != SEC_I_CONTEXT_EXPIRED) {
        return fail_with(errc::protocol_error, status_text("DecryptMessage", s));
      }
      std::size_t extra = 0;
      bool got_data = false;
      for (const SecBuffer& x : b) {
        if (x.BufferType == SECBUFFER_DATA && x.cbBuffer > 0 && x.pvBuffer) {
          plain_begin = static_cast<std::size_t>(static_cast<std::byte*>(x.pvBuffer) - in.data());
          plain_end = plain_begin + x.cbBuffer;
          got_data = true;
        } else if (x.BufferType == SECBUFFER_EXTRA) {
          extra = x.cbBuffer;
        }
      }
      cipher_begin = cipher_end - std::min(extra, cipher_end - cipher_begin);
      // Windows reports the peer's close_notify as SEC_I_CONTEXT_EXPIRED;
      // Wine (on GnuTLS) as SEC_E_OK with no data from an alert record.
      if (s == SEC_I_CONTEXT_EXPIRED || (s == SEC_E_OK && !got_data && alert_record)) {
        peer_closed = true;  // close_notify: plaintext before it is still read first
      } else if (s == SEC_I_RENEGOTIATE) {
        if (step r = post_handshake_message(); r.st != status::ok) {
          if (r.st == status::want_read) return need_input(false);
          return r;
        }
      }
    }
  }

  step write_step(const void* data, std::size_t size) {
    if (sent_shutdown || broken) return failed_step(make_error_code(errc::closed));
    if (!established) return failed_step(make_error_code(errc::protocol_error));
    if (big_token) return make_step(status::ok, 0);
    if (out_begin == out_end) out_begin = out_end = 0;
    const std::size_t overhead = sizes.cbHeader + sizes.cbTrailer;
    const auto* src = static_cast<const std::byte*>(data);
    std::size_t done = 0;
    while (done < size && output_queue_size - out_end > overhead) {
      const std::size_t chunk = std::min({size - done, static_cast<std::size_t>(sizes.cbMaximumMessage),
                                          output_queue_size - out_end - overhead});
      std::byte* header = out.data() + out_end;
      std::byte* body = header + sizes.cbHeader;
      std::memcpy(body, src + done, chunk);
      std::array<SecBuffer, 4> b{{{sizes.cbHeader, SECBUFFER_STREAM_HEADER, header},
                                  {static_cast<ULONG>(chunk), SECBUFFER_DATA, body},
                                  {sizes.cbTrailer, SECBUFFER_STREAM_TRAILER, body + chunk},
                                  {0, SECBUFFER_EMPTY, nullptr}}};
      SecBufferDesc desc{SECBUFFER_VERSION, 4, b.data()};
      const SECURITY_STATUS s = EncryptMessage(&sec, 0, &desc, 0);
      if (s != SEC_E_OK) return fail_with(errc::protocol_error, status_text("EncryptMessage", s));
      // The trailer may be shorter than its maximum (block padding): the
      // record is the three buffers' actual sizes, back to back.
      out_end += b[0].cbBuffer + b[1].cbBuffer + b[2].cbBuffer;
      done += chunk;
    }
    return make_step(status::ok, done);
  }

  step shutdown_step() {
    if (sent_shutdown) return make_step(status::ok);
    sent_shutdown = true;
    if (!have_sec || !established) return make_step(status::ok);  // nothing to close
    DWORD type = SCHANNEL_SHUTDOWN;
    SecBuffer b{sizeof type, SECBUFFER_TOKEN, &type};
    SecBufferDesc desc{SECBUFFER_VERSION, 1, &b};
    SECURITY_STATUS s = ApplyControlToken(&sec, &desc);
    if (s != SEC_E_OK) return fail_with(errc::protocol_error, status_text("ApplyControlToken", s));
    std::array<SecBuffer, 1> outb{{{0, SECBUFFER_TOKEN, nullptr}}};
    SecBufferDesc out_desc{SECBUFFER_VERSION, 1, outb.data()};
    SecBufferDesc none{SECBUFFER_VERSION, 0, nullptr};
    s = handshake_call(false, none, out_desc);
    if (!take_tokens(out_desc)) return fail_with(errc::protocol_error, "close_notify did not fit");
    if (s != SEC_E_OK && s != SEC_I_CONTEXT_EXPIRED && s != SEC_I_CONTINUE_NEEDED) {
      return fail_with(errc::protocol_error,
                       status_text(server ? "AcceptSecurityContext(shutdown)"
                                          : "InitializeSecurityContext(shutdown)",
                                   s));
    }
    return make_step(status::ok);
  }
};

void engine_deleter::operator()(engine* e) const noexcept { delete e; }

result<engine_ptr> make_engine(const std::shared_ptr<context_impl>& ctx, bool server,
                               std::string_view server_name) noexcept {
  if (!ctx) return fail(make_error_code(corio::errc::not_open));
  engine_ptr e;
  try {
    e.reset(new engine);
    e->name = server_name;
    e->wname = widen(server_name);
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  e->ctx = ctx;
  e->server = server;
  bool shared = true;
  const SECURITY_STATUS s = ctx->acquire(e->cred, shared, e->detail);
  if (s != SEC_E_OK) {
    return fail(make_error_code(server && s == SEC_E_NO_CREDENTIALS ? errc::bad_credentials
                                                                    : errc::not_supported));
  }
  e->own_cred = !shared;
  return e;
}

step handshake(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  if (e.established) return make_step(status::ok);
  if (e.broken) return failed_step(make_error_code(errc::handshake_failed));
  try {
    return e.handshake_step();
  } catch (...) {
    return failed_step(std::make_error_code(std::errc::not_enough_memory));
  }
}

step read(engine& e, void* data, std::size_t size) noexcept {
  std::lock_guard lock(e.lock);
  try {
    return e.read_step(data, size);
  } catch (...) {
    return failed_step(std::make_error_code(std::errc::not_enough_memory));
  }
}

step write(engine& e, const void* data, std::size_t size) noexcept {
  std::lock_guard lock(e.lock);
  return e.write_step(data, size);
}

step shutdown(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return e.shutdown_step();
}

std::span<const std::byte> output(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  if (e.big_token) {
    return {reinterpret_cast<const std::byte*>(e.big_token) + e.big_sent, e.big_size - e.big_sent};
  }
  return {e.out.data() + e.out_begin, e.out_end - e.out_begin};
}

void output_sent(engine& e, std::size_t n) noexcept {
  std::lock_guard lock(e.lock);
  if (e.big_token) {
    e.big_sent += n;
    if (e.big_sent >= e.big_size) {
      FreeContextBuffer(e.big_token);
      e.big_token = nullptr;
    }
    return;
  }
  e.out_begin += std::min(n, e.out_end - e.out_begin);
}

std::span<std::byte> input_space(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return {e.in.data() + e.cipher_end, input_queue_size - e.cipher_end};
}

void input_received(engine& e, std::size_t n) noexcept {
  std::lock_guard lock(e.lock);
  e.cipher_end += std::min(n, input_queue_size - e.cipher_end);
}

void input_ended(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  e.input_eof = true;
}

std::string_view alpn(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return e.chosen_alpn;
}

std::string_view server_name(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  // SChannel does not tell a server which name the client asked for.
  return e.server ? std::string_view() : std::string_view(e.name);
}

bool resumed(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return e.was_resumed;
}

std::string_view failure_detail(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return e.detail;
}

void* native_handle(engine& e) noexcept { return e.have_sec ? &e.sec : nullptr; }

}  // namespace corio::tls::detail
