# cmake/tls_sources.cmake: the TLS sources of target corio. The build's
# source list picks the platform's engine: OpenSSL 3 on Linux (memory BIOs,
# so the I/O stays corio's own), SChannel (SSPI) on Windows.
target_sources(corio PRIVATE ${PROJECT_SOURCE_DIR}/lib/tls/error.cpp)
if(WIN32)
  target_sources(corio PRIVATE
    ${PROJECT_SOURCE_DIR}/lib/tls/schannel/context.cpp
    ${PROJECT_SOURCE_DIR}/lib/tls/schannel/engine.cpp
  )
  # secur32: SSPI (AcquireCredentialsHandle, InitializeSecurityContext, ...);
  # crypt32: certificate stores and chains; ncrypt: CNG key containers (EC keys).
  target_link_libraries(corio PRIVATE secur32 crypt32 ncrypt)
else()
  find_package(OpenSSL 3 REQUIRED)
  target_sources(corio PRIVATE
    ${PROJECT_SOURCE_DIR}/lib/tls/openssl/context.cpp
    ${PROJECT_SOURCE_DIR}/lib/tls/openssl/engine.cpp
  )
  target_link_libraries(corio PRIVATE OpenSSL::SSL OpenSSL::Crypto)
endif()
