// lib/backend/uring/probe.cpp: deciding whether io_uring can be used here,
// and setting up one ring per worker.
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

namespace {

constexpr unsigned sq_entries = 4096;
constexpr unsigned cq_entries = 4 * sq_entries;

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

// Sets up a ring with the fastest flags this kernel accepts: single issuer
// with deferred task running (kernel 6.1+), else cooperative task running
// (5.19+), else plain. Says whether the ring must be enabled by its worker.
result<io_uring> setup_ring(bool& enable_on_attach) {
  const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  const unsigned attempts[] = {
      base | IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      base | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_CQSIZE,
  };
  int last = 0;
  for (unsigned flags : attempts) {
    io_uring ring{};
    io_uring_params p{};
    p.flags = flags;
    p.cq_entries = cq_entries;
    last = io_uring_queue_init_params(sq_entries, &ring, &p);
    if (last == 0) {
      enable_on_attach = (flags & IORING_SETUP_R_DISABLED) != 0;
      return ring;
    }
    // EINVAL: an older kernel without these flags; anything else (ENOSYS,
    // EPERM from seccomp or io_uring_disabled, ENOMEM from memlock limits)
    // will not change with other flags.
    if (last != -EINVAL) break;
  }
  return fail(errno_code(-last));
}

// Every opcode corio needs; a kernel missing any of them is not used. Says
// whether it also has IORING_OP_MSG_RING (5.18+), which workers use to post
// to each other when it is there (CORIO_TEST_URING_NO_MSG_RING=1, a test
// hook: behave as a kernel without it).
result<bool> check_opcodes(io_uring& ring) {
  std::unique_ptr<io_uring_probe, void (*)(io_uring_probe*)> probe(io_uring_get_probe_ring(&ring),
                                                                   io_uring_free_probe);
  if (!probe) return fail(std::errc::function_not_supported);
  for (int op : {IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_RECV, IORING_OP_SEND,
                 IORING_OP_READ, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
                 IORING_OP_OPENAT, IORING_OP_WRITE, IORING_OP_FSYNC}) {
    if (!io_uring_opcode_supported(probe.get(), op)) return fail(std::errc::function_not_supported);
  }
  const char* no_msg_ring = std::getenv("CORIO_TEST_URING_NO_MSG_RING");
  if (no_msg_ring && std::string_view(no_msg_ring) == "1") return false;
  return io_uring_opcode_supported(probe.get(), IORING_OP_MSG_RING) != 0;
}

// The buffers of each worker's ring for read_pooled. Test hook:
// CORIO_TEST_URING_BUFFER_RING=N sets N (rounded down to a power of two,
// at most 32768), and 0 behaves as a kernel without provided-buffer rings,
// so that the suite runs the fallback (tests/net/pooled_read_test.cpp).
unsigned buffer_ring_entries() {
  const char* e = std::getenv("CORIO_TEST_URING_BUFFER_RING");
  if (!e) return buffer_ring::default_entries;
  const long n = std::strtol(e, nullptr, 10);
  if (n <= 0) return 0;
  unsigned entries = 1;
  while (entries * 2 <= static_cast<unsigned long>(n) && entries < 32768) entries *= 2;
  return entries;
}

// Whether read_pooled may keep a multishot recv per socket: the kernel has
// IORING_RECV_MULTISHOT from 6.0 (the probe names opcodes, not their
// flags, so the release says). Test hook: CORIO_TEST_URING_NO_MULTISHOT=1
// behaves as an older kernel, so that the suite runs the one-recv-per-read
// path too (tests/support/ring_variants.hpp).
bool recv_multishot_supported() {
  const char* off = std::getenv("CORIO_TEST_URING_NO_MULTISHOT");
  if (off && std::string_view(off) == "1") return false;
  utsname u{};
  if (::uname(&u) != 0) return false;
  unsigned major = 0, minor = 0;
  if (std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
  return major >= 6;
}

}  // namespace

result<backend_set> make_uring_backends(unsigned count) {
  if (const char* e = std::getenv("CORIO_TEST_URING_SETUP_ERROR")) {
    // Test hook: behave as a host where ring setup is refused (e.g. "1" is
    // EPERM, what a container's seccomp profile returns).
    return fail(errno_code(std::atoi(e)));
  }
  backend_set out;
  const bool multishot = recv_multishot_supported();
  auto group = std::make_shared<uring_group>();
  group->rings.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    bool enable_on_attach = false;
    auto ring = setup_ring(enable_on_attach);
    if (!ring) return fail(ring.error());
    if (i == 0) {
      auto ok = check_opcodes(*ring);
      if (!ok) {
        io_uring_queue_exit(&*ring);
        return fail(ok.error());
      }
      group->messages = *ok;
    }
    int wake_fd = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd < 0) {
      int e = errno;
      io_uring_queue_exit(&*ring);
      return fail(errno_code(e));
    }
    auto backend = std::make_unique<uring_backend>(*ring, enable_on_attach, wake_fd, group, i);
    group->rings.push_back({backend.get(), ring->ring_fd});
    // read_pooled's buffer ring; without one (a kernel before 5.19) reads
    // poll, then read into the per-thread pool.
    if (const unsigned entries = buffer_ring_entries()) {
      if (auto buffers = buffer_ring::create(*ring, entries)) {
        backend->use_buffer_ring(*buffers);
        backend->use_multishot(multishot);
      }
    }
    out.push_back(std::move(backend));
  }
  return out;
}

}  // namespace corio::detail
