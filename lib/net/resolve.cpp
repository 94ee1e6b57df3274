// lib/net/resolve.cpp: host names to endpoints: checks, the numeric fast
// path, the system lookup on the blocking pool, and the resolver's error
// category.
#include "corio/net/resolve.hpp"

#include <atomic>
#include <charconv>
#include <memory>

#include "corio/blocking.hpp"
#include "net/lookup.hpp"
#include "sys/resolve.hpp"

namespace corio::net {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.resolve"; }
  std::string message(int ev) const override {
    switch (static_cast<resolve_errc>(ev)) {
      case resolve_errc::host_not_found: return "host not found";
      case resolve_errc::no_address: return "the host has no address";
      case resolve_errc::try_again: return "temporary failure in name resolution";
      case resolve_errc::failed: return "non-recoverable failure in name resolution";
      case resolve_errc::service_not_found: return "service not found";
      case resolve_errc::invalid_name: return "not a valid host name";
      case resolve_errc::out_of_memory: return "out of memory while resolving";
    }
    return "unknown resolver error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<resolve_errc>(ev)) {
      case resolve_errc::try_again: return std::errc::resource_unavailable_try_again;
      case resolve_errc::service_not_found:
      case resolve_errc::invalid_name: return std::errc::invalid_argument;
      case resolve_errc::out_of_memory: return std::errc::not_enough_memory;
      default: return {ev, *this};
    }
  }
};

// The length of the UTF-8 sequence that starts with `c` at `s`, or 0 if the
// bytes there are not one (overlong forms, surrogates and values past
// U+10FFFF included).
std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n;
  char32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  constexpr char32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_of[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::optional<std::uint16_t> numeric_port(std::string_view service) noexcept {
  if (service.empty()) return 0;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(service.data(), service.data() + service.size(), v);
  if (ec != std::errc() || p != service.data() + service.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

std::string_view unbracket(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

// The system lookup as a blocking-pool job that a stop can abandon while it
// runs: getaddrinfo cannot be interrupted, so the job keeps its own state
// on the heap (one allocation per lookup, beside getaddrinfo's own) and
// the awaiter need not wait for it.
struct lookup_job : detail::blocking_job {
  std::string host, service;
  std::vector<endpoint> out;
  std::error_code ec;
  std::coroutine_handle<> waiter;
  void* owner = nullptr;
  // Whoever sets it first resumes the awaiter: the job's finish, or a stop
  // that found it running.
  std::atomic<bool> claimed{false};
  // The pool's reference while the job is queued or running.
  std::shared_ptr<lookup_job> keep;
};

class lookup_awaiter {
 public:
  lookup_awaiter(std::shared_ptr<lookup_job> job, std::stop_token token) noexcept
      : job_(std::move(job)), token_(std::move(token)) {}
  lookup_awaiter(const lookup_awaiter&) = delete;
  lookup_awaiter& operator=(const lookup_awaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    if (token_.stop_requested()) {
      ec_ = std::make_error_code(std::errc::operation_canceled);
      return false;
    }
    lookup_job& j = *job_;
    j.pool = detail::current_blocking_pool();
    j.owner = detail::current_backend();
    if (!j.pool || !j.owner) {
      ec_ = std::make_error_code(std::errc::operation_not_supported);
      return false;
    }
    j.waiter = h;
    j.run = &run;
    j.finish = &finish;
    j.keep = job_;
    // TRICKY: registered before the job is queued (see blocking_awaiter):
    // afterwards the coroutine may already be resuming elsewhere.
    if (token_.stop_possible()) callback_.emplace(token_, canceller{job_.get()});
    if (auto ec = detail::submit_blocking(j)) {
      j.keep.reset();
      ec_ = ec;
      return false;
    }
    return true;
  }

  resolve_result await_resume() {
    callback_.reset();
    if (ec_) return fail(ec_);
    if (job_->stopped) return fail(std::errc::operation_canceled);
    if (job_->ec) return fail(job_->ec);
    return std::move(job_->out);
  }

 private:
  struct canceller {
    lookup_job* j;
    void operator()() const noexcept {
      std::shared_ptr<lookup_job> hold;
      switch (detail::stop_blocking(*j)) {
        case detail::blocking_job::state::queued:
          hold = std::move(j->keep);  // unlinked: the pool is done with it
          break;
        case detail::blocking_job::state::running:
          break;
        default:
          // Idle: await_suspend will not queue it and does not suspend.
          // Finished or cancelled: whoever did that resumes the awaiter.
          return;
      }
      // Queued (unlinked now) or running (abandoned: its value is dropped
      // when getaddrinfo returns).
      if (!j->claimed.exchange(true, std::memory_order_acq_rel))
        detail::resume_on(j->owner, j->waiter);
    }
  };

  static void run(detail::blocking_job& b) noexcept {
    auto& j = static_cast<lookup_job&>(b);
    if (auto hook = detail_lookup::before_lookup.load(std::memory_order_acquire)) hook();
    j.ec = detail::sys::lookup(j.host, j.service, j.out);
  }
  static void finish(detail::blocking_job& b) noexcept {
    auto& j = static_cast<lookup_job&>(b);
    std::shared_ptr<lookup_job> hold = std::move(j.keep);  // frees the job last
    if (!j.claimed.exchange(true, std::memory_order_acq_rel)) detail::resume_on(j.owner, j.waiter);
  }

  std::shared_ptr<lookup_job> job_;
  std::stop_token token_;
  std::error_code ec_;
  std::optional<std::stop_callback<canceller>> callback_;
};

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const category c;
  return c;
}

namespace detail_lookup {

std::error_code check(std::string_view host, std::string_view service) noexcept {
  if (host.empty() || host.size() > 255) return resolve_errc::invalid_name;
  std::size_t label = 0;
  bool ascii = true;
  for (std::size_t i = 0; i < host.size();) {
    const std::size_t n = utf8_sequence(host.substr(i));
    if (n == 0 || host[i] == '\0') return resolve_errc::invalid_name;
    if (n > 1) ascii = false;
    if (host[i] == '.') {
      label = 0;
    } else if (++label > 63 && ascii) {
      return resolve_errc::invalid_name;
    }
    i += n;
  }
  // 253 bytes of name, plus a final dot; "[v6%scope]" literals are shorter.
  if (host.size() > 254) return resolve_errc::invalid_name;
  if (service.size() > 64 || service.find('\0') != std::string_view::npos)
    return resolve_errc::service_not_found;
  if (service.empty()) return {};
  const auto digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
  const auto letter = [](unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; };
  if (digit(static_cast<unsigned char>(service.front()))) {
    // A number is a port, never a name for the service database to find.
    return numeric_port(service) ? std::error_code() : make_error_code(resolve_errc::service_not_found);
  }
  // A service name (RFC 6335, with the '_', '.' and '+' of older names):
  // a letter first, then letters, digits and those few signs.
  if (!letter(static_cast<unsigned char>(service.front()))) return resolve_errc::service_not_found;
  for (unsigned char c : service) {
    if (!letter(c) && !digit(c) && c != '-' && c != '_' && c != '.' && c != '+')
      return resolve_errc::service_not_found;
  }
  return {};
}

std::optional<endpoint> numeric(std::string_view host, std::string_view service) noexcept {
  auto port = numeric_port(service);
  if (!port) return std::nullopt;
  auto ep = endpoint::parse(unbracket(host), *port);
  if (!ep) return std::nullopt;
  return *ep;
}

task<resolve_result> lookup(std::string host, std::string service, std::stop_token stop) {
  if (auto ec = check(host, service)) co_return fail(ec);
  if (auto ep = numeric(host, service)) co_return std::vector<endpoint>{*ep};
  auto job = std::make_shared<lookup_job>();
  job->host = unbracket(host);
  job->service = std::move(service);
  co_return co_await lookup_awaiter(std::move(job), std::move(stop));
}

}  // namespace detail_lookup

detail::task_operation<resolve_result> resolve(std::string_view host, std::string_view service) {
  if (auto ec = detail_lookup::check(host, service))
    return detail::task_operation<resolve_result>(resolve_result(fail(ec)));
  if (auto ep = detail_lookup::numeric(host, service))
    return detail::task_operation<resolve_result>(resolve_result(std::vector<endpoint>{*ep}));
  return detail::task_operation<resolve_result>(
      [h = std::string(host), s = std::string(service)](std::stop_token stop) {
        return detail_lookup::lookup(h, s, std::move(stop));
      });
}

}  // namespace corio::net
