// tests/tls/schannel_probe_test.cpp (Windows): can this system's SChannel
// complete a TLS handshake at all? A client and a server context handshake
// through memory (no sockets), with a self-signed certificate made by
// CertCreateSelfSignCertificate, then one record each way. It says which
// SSPI call stopped and with which SECURITY_STATUS; under Wine this is the
// evidence for what blocks the SChannel engine (docs/tls.md).
#include <gtest/gtest.h>

#define SECURITY_WIN32
#include <windows.h>
#include <wincrypt.h>
#include <schannel.h>
#include <security.h>
#include <sspi.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace corio::test {
namespace {

std::string status_text(const char* call, SECURITY_STATUS s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s returned 0x%08lx", call, static_cast<unsigned long>(s));
  return buf;
}

// The token buffers a handshake step produced, appended to `to`.
void take_output(SecBufferDesc& out, std::vector<char>& to) {
  for (unsigned i = 0; i < out.cBuffers; ++i) {
    SecBuffer& b = out.pBuffers[i];
    if (b.BufferType == SECBUFFER_TOKEN && b.cbBuffer && b.pvBuffer) {
      const char* p = static_cast<const char*>(b.pvBuffer);
      to.insert(to.end(), p, p + b.cbBuffer);
    }
    if (b.pvBuffer) FreeContextBuffer(b.pvBuffer);
    b.pvBuffer = nullptr;
  }
}

// Keeps what the step did not consume (SECBUFFER_EXTRA) as the next input.
void keep_extra(SecBufferDesc& in, std::vector<char>& data) {
  for (unsigned i = 0; i < in.cBuffers; ++i) {
    if (in.pBuffers[i].BufferType == SECBUFFER_EXTRA) {
      data.erase(data.begin(), data.end() - in.pBuffers[i].cbBuffer);
      return;
    }
  }
  data.clear();
}

TEST(schannel_probe, HandshakeAndOneRecordThroughMemory) {
  // A self-signed certificate with a new RSA key in a fresh key container.
  wchar_t subject[] = L"CN=localhost";
  BYTE name[256];
  DWORD name_size = sizeof name;
  ASSERT_TRUE(CertStrToNameW(X509_ASN_ENCODING, subject, CERT_X500_NAME_STR, nullptr, name,
                             &name_size, nullptr));
  CERT_NAME_BLOB blob{name_size, name};
  PCCERT_CONTEXT cert = CertCreateSelfSignCertificate(0, &blob, 0, nullptr, nullptr, nullptr,
                                                      nullptr, nullptr);
  if (!cert) {
    GTEST_SKIP() << "CertCreateSelfSignCertificate failed: " << GetLastError();
  }

  SCHANNEL_CRED server_cred{};
  server_cred.dwVersion = SCHANNEL_CRED_VERSION;
  server_cred.cCreds = 1;
  server_cred.paCred = &cert;
  server_cred.grbitEnabledProtocols = SP_PROT_TLS1_2_SERVER;
  SCHANNEL_CRED client_cred{};
  client_cred.dwVersion = SCHANNEL_CRED_VERSION;
  client_cred.grbitEnabledProtocols = SP_PROT_TLS1_2_CLIENT;
  client_cred.dwFlags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS;

  CredHandle server{}, client{};
  TimeStamp expiry;
  wchar_t package[] = UNISP_NAME_W;
  SECURITY_STATUS s = AcquireCredentialsHandleW(nullptr, package, SECPKG_CRED_INBOUND, nullptr,
                                                &server_cred, nullptr, nullptr, &server, &expiry);
  if (s != SEC_E_OK) {
    CertFreeCertificateContext(cert);
    GTEST_SKIP() << status_text("AcquireCredentialsHandle(server)", s);
  }
  s = AcquireCredentialsHandleW(nullptr, package, SECPKG_CRED_OUTBOUND, nullptr, &client_cred,
                                nullptr, nullptr, &client, &expiry);
  ASSERT_EQ(s, SEC_E_OK) << status_text("AcquireCredentialsHandle(client)", s);

  CtxtHandle cctx{}, sctx{};
  bool have_c = false, have_s = false, c_done = false, s_done = false;
  std::vector<char> to_server, to_client;
  wchar_t target[] = L"localhost";
  const ULONG creq = ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT | ISC_REQ_CONFIDENTIALITY |
                     ISC_REQ_ALLOCATE_MEMORY | ISC_REQ_STREAM | ISC_REQ_MANUAL_CRED_VALIDATION;
  const ULONG sreq = ASC_REQ_SEQUENCE_DETECT | ASC_REQ_REPLAY_DETECT | ASC_REQ_CONFIDENTIALITY |
                     ASC_REQ_ALLOCATE_MEMORY | ASC_REQ_STREAM;
  std::string stopped;
  for (int round = 0; round < 10 && !(c_done && s_done) && stopped.empty(); ++round) {
    if (!c_done && (!have_c || !to_client.empty())) {
      SecBuffer in_b[2] = {{static_cast<ULONG>(to_client.size()), SECBUFFER_TOKEN, to_client.data()},
                           {0, SECBUFFER_EMPTY, nullptr}};
      SecBufferDesc in{SECBUFFER_VERSION, 2, in_b};
      SecBuffer out_b[1] = {{0, SECBUFFER_TOKEN, nullptr}};
      SecBufferDesc out{SECBUFFER_VERSION, 1, out_b};
      ULONG attrs = 0;
      s = InitializeSecurityContextW(&client, have_c ? &cctx : nullptr, target, creq, 0, 0,
                                     have_c ? &in : nullptr, 0, &cctx, &out, &attrs, &expiry);
      have_c = true;
      take_output(out, to_server);
      if (s == SEC_E_OK) {
        c_done = true;
        keep_extra(in, to_client);
      } else if (s == SEC_I_CONTINUE_NEEDED) {
        keep_extra(in, to_client);
      } else {
        stopped = status_text("InitializeSecurityContext", s) +
                  " in round " + std::to_string(round);
        break;
      }
    }
    if (!s_done && !to_server.empty()) {
      SecBuffer in_b[2] = {{static_cast<ULONG>(to_server.size()), SECBUFFER_TOKEN, to_server.data()},
                           {0, SECBUFFER_EMPTY, nullptr}};
      SecBufferDesc in{SECBUFFER_VERSION, 2, in_b};
      SecBuffer out_b[1] = {{0, SECBUFFER_TOKEN, nullptr}};
      SecBufferDesc out{SECBUFFER_VERSION, 1, out_b};
      ULONG attrs = 0;
      s = AcceptSecurityContext(&server, have_s ? &sctx : nullptr, &in, sreq, 0, &sctx, &out,
                                &attrs, &expiry);
      have_s = true;
      take_output(out, to_client);
      if (s == SEC_E_OK) {
        s_done = true;
        keep_extra(in, to_server);
      } else if (s == SEC_I_CONTINUE_NEEDED) {
        keep_extra(in, to_server);
      } else {
        stopped = status_text("AcceptSecurityContext", s) + " in round " + std::to_string(round);
        break;
      }
    }
  }

  std::string record_result;
  if (stopped.empty() && c_done && s_done) {
    // One record from the client to the server.
    SecPkgContext_StreamSizes sizes{};
    s = QueryContextAttributesW(&cctx, SECPKG_ATTR_STREAM_SIZES, &sizes);
    if (s != SEC_E_OK) {
      record_result = status_text("QueryContextAttributes(STREAM_SIZES)", s);
    } else {
      const char msg[] = "hello schannel";
      std::vector<char> rec(sizes.cbHeader + sizeof msg + sizes.cbTrailer);
      std::memcpy(rec.data() + sizes.cbHeader, msg, sizeof msg);
      SecBuffer eb[4] = {{sizes.cbHeader, SECBUFFER_STREAM_HEADER, rec.data()},
                         {sizeof msg, SECBUFFER_DATA, rec.data() + sizes.cbHeader},
                         {sizes.cbTrailer, SECBUFFER_STREAM_TRAILER,
                          rec.data() + sizes.cbHeader + sizeof msg},
                         {0, SECBUFFER_EMPTY, nullptr}};
      SecBufferDesc ed{SECBUFFER_VERSION, 4, eb};
      s = EncryptMessage(&cctx, 0, &ed, 0);
      if (s != SEC_E_OK) {
        record_result = status_text("EncryptMessage", s);
      } else {
        std::vector<char> wire(rec.data(), rec.data() + eb[0].cbBuffer + eb[1].cbBuffer + eb[2].cbBuffer);
        SecBuffer db[4] = {{static_cast<ULONG>(wire.size()), SECBUFFER_DATA, wire.data()},
                           {0, SECBUFFER_EMPTY, nullptr},
                           {0, SECBUFFER_EMPTY, nullptr},
                           {0, SECBUFFER_EMPTY, nullptr}};
        SecBufferDesc dd{SECBUFFER_VERSION, 4, db};
        s = DecryptMessage(&sctx, &dd, 0, nullptr);
        if (s != SEC_E_OK) {
          record_result = status_text("DecryptMessage", s);
        } else {
          for (auto& b : db) {
            if (b.BufferType == SECBUFFER_DATA && b.cbBuffer == sizeof msg &&
                std::memcmp(b.pvBuffer, msg, sizeof msg) == 0) {
              record_result = "ok";
            }
          }
          if (record_result.empty()) record_result = "DecryptMessage gave other bytes";
        }
      }
    }
  }

  if (have_c) DeleteSecurityContext(&cctx);
  if (have_s) DeleteSecurityContext(&sctx);
  FreeCredentialsHandle(&client);
  FreeCredentialsHandle(&server);
  CertFreeCertificateContext(cert);

  if (!stopped.empty()) GTEST_SKIP() << "SChannel handshake stopped: " << stopped;
  ASSERT_TRUE(c_done && s_done) << "no handshake after 10 rounds";
  EXPECT_EQ(record_result, "ok");
}

}  // namespace
}  // namespace corio::test
