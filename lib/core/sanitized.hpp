// lib/core/sanitized.hpp: CORIO_SANITIZED is 1 when a sanitizer watches the
// heap (ASan, TSan, MSan). corio's caches of freed memory (coroutine frames,
// socket cores) are off then, so that a use after free is still reported.
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CORIO_SANITIZED 1
#endif
#endif
#ifndef CORIO_SANITIZED
#define CORIO_SANITIZED 0
#endif

// CORIO_TSAN is 1 under ThreadSanitizer, which sees no synchronization in a
// hand-over the kernel makes between threads (an io_uring message from one
// ring to another): the code tells it with __tsan_release/__tsan_acquire.
#if defined(__SANITIZE_THREAD__)
#define CORIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
#endif
#endif
#ifndef CORIO_TSAN
#define CORIO_TSAN 0
#endif
