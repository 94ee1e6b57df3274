# cmake/windows_sources.cmake: the Windows sources of target corio (the IOCP
# backend and the Winsock socket calls). Included by the top-level
# CMakeLists.txt under if(WIN32); the build's source list, not #if in every
# file, picks what compiles.
target_sources(corio PRIVATE
  ${PROJECT_SOURCE_DIR}/lib/sys/win/signal.cpp
  ${PROJECT_SOURCE_DIR}/lib/sys/win/socket.cpp
  ${PROJECT_SOURCE_DIR}/lib/sys/win/resolve.cpp
  ${PROJECT_SOURCE_DIR}/lib/sys/win/file.cpp
  ${PROJECT_SOURCE_DIR}/lib/core/select_windows.cpp
  ${PROJECT_SOURCE_DIR}/lib/backend/iocp/iocp_backend.cpp
  ${PROJECT_SOURCE_DIR}/lib/backend/iocp/socket_ops.cpp
  ${PROJECT_SOURCE_DIR}/lib/backend/iocp/file_ops.cpp
  ${PROJECT_SOURCE_DIR}/lib/backend/iocp/timer_ops.cpp
)
# Windows 7 SP1 is the oldest target: WSA_FLAG_NO_HANDLE_INHERIT,
# GetQueuedCompletionStatusEx, CancelIoEx, SetFileCompletionNotificationModes.
target_compile_definitions(corio PRIVATE _WIN32_WINNT=0x0601 WIN32_LEAN_AND_MEAN NOMINMAX)
# ws2_32: Winsock; mswsock: AcceptEx's types (the functions themselves are
# loaded at run time); ntdll: RtlNtStatusToDosError for completion statuses.
target_link_libraries(corio PRIVATE ws2_32 mswsock ntdll)

# MinGW's libstdc++ before GCC 13 implements std::binary_semaphore (hence
# std::stop_callback's destructor, which waits for a callback running on
# another thread) with an atomic wait that can lose a wake-up on platforms
# without futexes (GCC bug 106183): with_stop / when_any then hang, rarely,
# when a completion resumes a coroutine on one worker while its stop
# callback still runs on another, which IOCP does all the time. The POSIX
# semaphore (winpthreads) has no such bug. PUBLIC: every translation unit
# that includes <stop_token> must agree on the semaphore's layout.
if(MINGW AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_definitions(corio PUBLIC _GLIBCXX_USE_POSIX_SEMAPHORE=1)
endif()
