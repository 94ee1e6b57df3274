// tests/fs/file_test.cpp: fs::file on every backend: reads and writes at
// offsets, short reads at the end, writes past the end, a file removed while
// open, open's errors, info and info_at_open, sync, and a closed file.
#include "corio/fs/file.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <latch>
#include <string>
#include <vector>

#include "corio/blocking.hpp"
#include "corio/cancel.hpp"
#include "corio/runtime.hpp"
#include "corio/when.hpp"
#include "fs/temp_dir.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

#ifdef _WIN32
#include <windows.h>
#else
#include <unistd.h>
#endif

namespace corio::test {
namespace {

using fs::open_flags;

class file_test : public runtime_test {
 protected:
  temp_dir dir;
};

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

TEST_F(file_test, WritesAndReadsBackAtOffsets) {
  const std::string path = dir.file("a.bin");
  run([](std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, open_flags::read | open_flags::write | open_flags::create);
    CO_ASSERT(f.has_value());
    EXPECT_TRUE(f->is_open());
    const auto data = random_bytes(100'000, 7);
    std::size_t at = 0;
    while (at < data.size()) {
      auto n = co_await f->write_at(at, std::span(data).subspan(at));
      CO_ASSERT(n.has_value());
      CO_ASSERT(*n > 0);
      at += *n;
    }
    std::vector<std::byte> back(data.size());
    auto n = co_await f->read_at(0, back);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, data.size());
    EXPECT_EQ(back, data);
    // A read in the middle.
    std::vector<std::byte> mid(10);
    n = co_await f->read_at(5000, mid);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 10u);
    EXPECT_TRUE(std::equal(mid.begin(), mid.end(), data.begin() + 5000));
    auto info = f->info();
    CO_ASSERT(info.has_value());
    EXPECT_EQ(info->size, data.size());
    EXPECT_TRUE(info->regular);
    EXPECT_FALSE(info->directory);
    const auto age = std::chrono::system_clock::now() - info->modified;
    EXPECT_LT(age, std::chrono::hours(1)) << "modified time is not the write's";
    EXPECT_TRUE((co_await f->sync()).has_value());
    EXPECT_TRUE(f->close().has_value());
    EXPECT_FALSE(f->is_open());
  }(path));
  EXPECT_EQ(std::filesystem::file_size(path), 100'000u);
}

TEST_F(file_test, ShortReadAtTheEndAndZeroPastIt) {
  const std::string path = dir.write("ten.bin", bytes_of("0123456789"));
  run([](std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, open_flags::read);
    CO_ASSERT(f.has_value());
    std::vector<std::byte> buf(64);
    auto n = co_await f->read_at(6, buf);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 4u);  // short: the file ends
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), 4), "6789");
    n = co_await f->read_at(10, buf);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 0u);  // at the end
    n = co_await f->read_at(1'000'000'000'000ull, buf);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 0u);  // far past it
    n = co_await f->read_at(0, std::span<std::byte>());
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 0u);  // an empty buffer reaches no kernel
  }(path));
}

TEST_F(file_test, WritePastTheEndExtendsWithZeros) {
  const std::string path = dir.write("short.bin", bytes_of("abc"));
  run([](std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, open_flags::read | open_flags::write);
    CO_ASSERT(f.has_value());
    const auto tail = bytes_of("XYZ");
    auto n = co_await f->write_at(100, tail);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 3u);
    auto info = f->info();
    CO_ASSERT(info.has_value());
    EXPECT_EQ(info->size, 103u);
    std::vector<std::byte> all(200);
    auto r = co_await f->read_at(0, all);
    CO_ASSERT(r.has_value());
    CO_ASSERT(*r == 103u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(all.data()), 3), "abc");
    for (std::size_t i = 3; i < 100; ++i) EXPECT_EQ(all[i], std::byte{0}) << "at " << i;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(all.data() + 100), 3), "XYZ");
  }(path));
}

TEST_F(file_test, InfoAtOpenIsWhatOpenSaw) {
  const std::string path = dir.write("ten.bin", bytes_of("0123456789"));
  run([](std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, open_flags::read | open_flags::write);
    CO_ASSERT(f.has_value());
    const fs::file_info at_open = f->info_at_open();
    auto now = f->info();
    CO_ASSERT(now.has_value());
    EXPECT_EQ(at_open.size, 10u);
    EXPECT_TRUE(at_open.regular);
    EXPECT_FALSE(at_open.directory);
    EXPECT_EQ(at_open.modified, now->modified);
    // A write changes the file, not what open saw.
    EXPECT_EQ(*(co_await f->write_at(100, bytes_of("XYZ"))), 3u);
    EXPECT_EQ(f->info_at_open().size, 10u);
    EXPECT_EQ(f->info()->size, 103u);
    // It moves with the file.
    fs::file g = std::move(*f);
    EXPECT_EQ(g.info_at_open().size, 10u);
    fs::file h;
    h = std::move(g);
    EXPECT_EQ(h.info_at_open().size, 10u);
  }(path));
  const fs::file never_opened;
  EXPECT_EQ(never_opened.info_at_open().size, 0u);
  EXPECT_FALSE(never_opened.info_at_open().regular);
}

TEST_F(file_test, TruncateAndAppend) {
  const std::string path = dir.write("t.bin", bytes_of("old contents"));
  run([](std::string path) -> task<void> {
    {
      auto f = co_await fs::file::open(path, open_flags::write | open_flags::truncate);
      CO_ASSERT(f.has_value());
      EXPECT_EQ(f->info()->size, 0u);
      EXPECT_EQ(*(co_await f->write_at(0, bytes_of("new"))), 3u);
    }
    {
      // append: writes go to the end, whatever the offset says.
      auto f = co_await fs::file::open(path, open_flags::write | open_flags::append);
      CO_ASSERT(f.has_value());
      EXPECT_EQ(*(co_await f->write_at(0, bytes_of("+more"))), 5u);
    }
    auto f = co_await fs::file::open(path, open_flags::read);
    CO_ASSERT(f.has_value());
    std::vector<std::byte> buf(64);
    auto n = co_await f->read_at(0, buf);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), "new+more");
  }(path));
}

TEST_F(file_test, RemovedWhileOpenStaysReadable) {
  // Linux: the inode lives while a descriptor refers to it; the name is
  // gone at once. Windows: corio opens with FILE_SHARE_DELETE, so removing
  // the name succeeds while the file is open and the open handle reads on;
  // the name itself may stay (delete pending) until the last handle closes
  // (Wine 8 keeps it), so only Linux checks that it is gone.
  const std::string path = dir.write("gone.bin", bytes_of("still here"));
  run([](std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, open_flags::read);
    CO_ASSERT(f.has_value());
    std::error_code ec;
    std::filesystem::remove(path, ec);
    EXPECT_FALSE(ec) << "remove while open: " << ec.message();
    std::vector<std::byte> buf(64);
    auto n = co_await f->read_at(0, buf);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), "still here");
#ifndef _WIN32
    EXPECT_FALSE(std::filesystem::exists(path)) << "the name is still there";
    auto again = co_await fs::file::open(path, open_flags::read);
    CO_ASSERT(!again.has_value());
    EXPECT_EQ(again.error(), std::errc::no_such_file_or_directory);
#endif
  }(path));
}

TEST_F(file_test, OpenErrorsAreThePortableOnes) {
  const std::string missing = dir.file("missing.bin");
  const std::string directory = dir.path().string();
  const std::string existing = dir.write("exists.bin", bytes_of("x"));
  run([](std::string missing, std::string directory, std::string existing) -> task<void> {
    auto r = co_await fs::file::open(missing, open_flags::read);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory) << r.error().message();
    r = co_await fs::file::open(directory, open_flags::read);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::is_a_directory) << r.error().message();
    r = co_await fs::file::open(existing, open_flags::write | open_flags::create | open_flags::exclusive);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::file_exists) << r.error().message();
    // Flags that cannot open anything are refused before any system call.
    for (auto bad : {open_flags::create, open_flags::read | open_flags::truncate,
                     open_flags::read | open_flags::append, open_flags::write | open_flags::exclusive}) {
      r = co_await fs::file::open(existing, bad);
      CO_ASSERT(!r);
      EXPECT_EQ(r.error(), std::errc::invalid_argument);
    }
    r = co_await fs::file::open(std::string_view("exists.bin\0x", 12), open_flags::read);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::invalid_argument);
    r = co_await fs::file::open("", open_flags::read);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory);
  }(missing, directory, existing));
}

TEST_F(file_test, OpenWithoutPermissionIsPermissionDenied) {
  std::string path = dir.write("ro.bin", bytes_of("read only"));
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
#ifndef _WIN32
  // root may write any file; sysfs refuses a write open of a read-only
  // attribute even to root.
  if (::geteuid() == 0) {
    path = "/sys/kernel/notes";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "running as root without /sys/kernel/notes";
  }
#endif
  const bool opened = run([](std::string path) -> task<bool> {
    auto r = co_await fs::file::open(path, open_flags::write);
    if (r) co_return true;
    EXPECT_EQ(r.error(), std::errc::permission_denied) << r.error().message();
    co_return false;
  }(path));
  std::filesystem::permissions(dir.file("ro.bin"), std::filesystem::perms::owner_all);
#ifdef _WIN32
  // Wine maps the read-only attribute to the Unix mode, which root ignores.
  if (opened && ::GetProcAddress(::GetModuleHandleA("ntdll.dll"), "wine_get_version"))
    GTEST_SKIP() << "Wine running as root opened a read-only file for writing";
#endif
  EXPECT_FALSE(opened) << "a read-only file was opened for writing";
}

TEST_F(file_test, ClosedFileRefusesOperations) {
  run([]() -> task<void> {
    fs::file f;
    EXPECT_FALSE(f.is_open());
    std::vector<std::byte> buf(4);
    auto n = co_await f.read_at(0, buf);
    CO_ASSERT(!n);
    EXPECT_EQ(n.error(), errc::not_open);
    n = co_await f.write_at(0, buf);
    CO_ASSERT(!n);
    EXPECT_EQ(n.error(), errc::not_open);
    EXPECT_EQ((co_await f.sync()).error(), errc::not_open);
    EXPECT_EQ(f.info().error(), errc::not_open);
    EXPECT_EQ(f.close().error(), errc::not_open);
  }());
}

TEST_F(file_test, ManyReadsInFlightAtOnce) {
  std::vector<std::byte> data(64 * 1024);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = pattern_at(i);
  const std::string path = dir.write("many.bin", data);
  run([](std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, open_flags::read);
    CO_ASSERT(f.has_value());
    auto chunk = [&f](std::uint64_t at) -> task<bool> {
      std::vector<std::byte> buf(4096);
      auto n = co_await f->read_at(at, buf);
      if (!n || *n != buf.size()) co_return false;
      for (std::size_t i = 0; i < buf.size(); ++i) {
        if (buf[i] != pattern_at(at + i)) co_return false;
      }
      co_return true;
    };
    auto [a, b, c, d] = co_await when_all(chunk(0), chunk(4096 * 3), chunk(4096 * 7), chunk(4096 * 15));
    EXPECT_TRUE(a && b && c && d);
  }(path));
}

TEST_F(file_test, OperationsTakeWithStopAndWithTimeout) {
  const std::string path = dir.write("s.bin", bytes_of("stoppable"));
  run([](std::string path) -> task<void> {
    auto f = co_await with_timeout(fs::file::open(path, open_flags::read), std::chrono::seconds(10));
    CO_ASSERT(f.has_value());
    std::vector<std::byte> buf(64);
    auto n = co_await with_timeout(f->read_at(0, buf), std::chrono::seconds(10));
    CO_ASSERT(n.has_value());
    EXPECT_EQ(*n, 9u);
    // A stop requested before the start: never reaches the kernel.
    std::stop_source stop;
    stop.request_stop();
    n = co_await with_stop(f->read_at(0, buf), stop.get_token());
    CO_ASSERT(!n);
    EXPECT_EQ(n.error(), std::errc::operation_canceled);
  }(path));
}

// Where a file call waits on the blocking pool (an open that creates: epoll
// and IOCP), a stop takes back a call still queued behind a busy pool: it
// ends with operation_canceled and never runs (the file is not created).
// On io_uring the open is the kernel's and ends with its own result or the
// cancel, whichever wins; either way nothing hangs and nothing leaks.
TEST(file_pool_test, QueuedCallIsTakenBackByAStop) {
  auto made = runtime::create({.threads = 1, .blocking_threads = 1});
  ASSERT_TRUE(made.has_value());
  runtime rt = std::move(*made);
  temp_dir dir;
  const std::string path = dir.file("created.bin");
  const bool on_pool = rt.backend() != backend_kind::io_uring;
  run(rt, [](std::string path, bool on_pool) -> task<void> {
    std::latch gate(1);
    // Occupies the pool's only thread until the opener has its result.
    auto hog = [&]() -> task<void> {
      co_await spawn_blocking([&gate] { gate.wait(); });
    };
    std::stop_source stop;
    auto opener = [&]() -> task<bool> {
      auto f = co_await with_stop(fs::file::open(path, open_flags::write | open_flags::create),
                                  stop.get_token());
      gate.count_down();
      if (on_pool) {
        EXPECT_FALSE(f.has_value()) << "a queued open ran";
      }
      if (!f) {
        EXPECT_EQ(f.error(), std::errc::operation_canceled);
      }
      co_return f.has_value();
    };
    auto stopper = [&]() -> task<void> {
      stop.request_stop();
      co_return;
    };
    auto [h, opened, s] = co_await when_all(hog(), opener(), stopper());
    (void)h;
    (void)s;
    EXPECT_EQ(std::filesystem::exists(path), opened);
  }(path, on_pool));
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

// epoll: an open of a path the kernel has cached and a read of bytes in the
// page cache cannot block, so they run on the worker and the pool never
// starts a thread. Calls that may block still go to the pool.
TEST(file_pool_test, CachedOpenAndReadSkipThePoolOnEpoll) {
  auto made = runtime::create({.threads = 1});
  ASSERT_TRUE(made.has_value());
  runtime rt = std::move(*made);
  if (rt.backend() != backend_kind::epoll) GTEST_SKIP() << "epoll's pool only";
  temp_dir dir;
  const std::string path = dir.write("hot.bin", bytes_of("cached bytes"));
  run(rt, [](std::string path, runtime& rt) -> task<void> {
    for (int i = 0; i < 3; ++i) {
      auto f = co_await fs::file::open(path, open_flags::read);
      CO_ASSERT(f.has_value());
      std::vector<std::byte> buf(64);
      auto n = co_await f->read_at(0, buf);
      CO_ASSERT(n.has_value());
      EXPECT_EQ(*n, 12u);
      EXPECT_EQ(std::memcmp(buf.data(), "cached bytes", 12), 0);
      EXPECT_EQ(co_await f->read_at(12, buf), 0u);  // the end, also at once
    }
    EXPECT_EQ(rt.blocking_threads(), 0u);
    // A directory is still refused, a missing file still not found.
    auto d = co_await fs::file::open(std::filesystem::path(path).parent_path().string(),
                                     open_flags::read);
    CO_ASSERT(!d);
    EXPECT_EQ(d.error(), std::errc::is_a_directory);
    auto missing = co_await fs::file::open(path + ".missing", open_flags::read);
    CO_ASSERT(!missing);
    EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
    // Creating may block: the pool runs it.
    auto made_file = co_await fs::file::open(path + ".new", open_flags::write | open_flags::create);
    CO_ASSERT(made_file.has_value());
    EXPECT_GE(rt.blocking_threads(), 1u);
  }(path, rt));
}

}  // namespace
}  // namespace corio::test
