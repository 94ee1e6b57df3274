// lib/net/connect_by_name.cpp: tcp_stream::connect(host, port) and
// connect(span<const endpoint>): RFC 8305 ("Happy Eyeballs v2") in outline.
#include <mutex>
#include <optional>
#include <stop_token>

#include "corio/cancel.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/scope.hpp"
#include "corio/time.hpp"
#include "net/lookup.hpp"

namespace corio::net {

namespace {

// RFC 8305 section 5: the "Connection Attempt Delay".
constexpr auto attempt_delay = std::chrono::milliseconds(250);

// What the attempts of one race share. Attempts may end on other workers
// (IOCP), so everything is under mu.
struct race {
  std::mutex mu;
  std::stop_source attempts;            // stops every attempt: a winner, or a stop from above
  std::optional<tcp_stream> winner;     // the first connection made
  std::error_code first_error;          // the first attempt's failure, reported if all fail
  std::size_t running = 0;              // attempts started and not yet ended
  bool kicked = false;                  // an attempt ended since the main loop last looked
  std::stop_source nap;                 // wakes the main loop's current wait

  // Any thread: the main loop should look again (an attempt ended, or a
  // stop came from above).
  void kick() {
    std::lock_guard lock(mu);
    kicked = true;
    nap.request_stop();
  }
  // The main loop: a token for its next wait, or none if it was kicked
  // meanwhile (then it must not wait).
  std::optional<std::stop_token> next_nap() {
    std::lock_guard lock(mu);
    if (std::exchange(kicked, false)) return std::nullopt;
    nap = std::stop_source();
    return nap.get_token();
  }
  bool decided() {
    std::lock_guard lock(mu);
    return winner.has_value();
  }
  // A winner, or no attempt left that could be one.
  bool over() {
    std::lock_guard lock(mu);
    return winner.has_value() || running == 0;
  }
};

task<void> attempt(endpoint to, race& r) {
  auto c = co_await with_stop(tcp_stream::connect(to), r.attempts.get_token());
  {
    std::lock_guard lock(r.mu);
    if (c && !r.winner) {
      r.winner.emplace(std::move(*c));
      r.attempts.request_stop();  // cancel the others
    } else if (!c && !r.first_error && c.error() != std::errc::operation_canceled) {
      r.first_error = c.error();
    }
    // A second success is closed here, as `c` goes.
    --r.running;
  }
  r.kick();
}

// Waits until the race is kicked, `d` has passed, or (when d is zero) as
// long as it takes for a kick.
task<void> nap(race& r, clock::duration d) {
  auto token = r.next_nap();
  if (!token) co_return;
  // A day per wait: with_timeout from above or an attempt's end come first.
  (void)co_await with_stop(sleep_for(d.count() ? d : std::chrono::hours(24)), std::move(*token));
}

task<result<tcp_stream>> happy_eyeballs(std::vector<endpoint> to, std::stop_token stop) {
  if (to.empty()) co_return fail(resolve_errc::no_address);
  auto order = detail_lookup::interleave(to);
  race r;
  // Stops every attempt (and wakes the loop) when the operation is
  // cancelled from above; may run at once, inline, if it already was.
  std::stop_callback on_stop(stop, [&r] {
    r.attempts.request_stop();
    r.kick();
  });
  scope attempts;
  std::size_t started = 0;
  for (const auto& ep : order) {
    if (stop.stop_requested() || r.decided()) break;
    {
      std::lock_guard lock(r.mu);
      ++r.running;
    }
    attempts.spawn_local(attempt(ep, r));
    ++started;
    if (started == order.size()) break;
    // Until the delay passes or an attempt ends (a failure starts the
    // next at once; a success ends the race).
    co_await nap(r, attempt_delay);
  }
  // Every address has its attempt: wait for a winner or for all to fail.
  while (!stop.stop_requested() && !r.over()) co_await nap(r, {});
  r.attempts.request_stop();
  co_await attempts.join();
  std::lock_guard lock(r.mu);
  if (r.winner) co_return std::move(*r.winner);
  if (stop.stop_requested()) co_return fail(std::errc::operation_canceled);
  co_return fail(r.first_error ? r.first_error : make_error_code(std::errc::connection_refused));
}

task<result<tcp_stream>> connect_by_name(std::string host, std::uint16_t port, std::stop_token stop) {
  auto to = co_await detail_lookup::lookup(std::move(host), std::to_string(port), stop);
  if (!to) co_return fail(to.error());
  co_return co_await happy_eyeballs(std::move(*to), std::move(stop));
}

}  // namespace

namespace detail_lookup {

std::vector<endpoint> interleave(std::span<const endpoint> in) {
  std::vector<endpoint> first, second, out;
  if (in.empty()) return out;
  const bool v4_first = in.front().is_v4();
  for (const auto& ep : in) (ep.is_v4() == v4_first ? first : second).push_back(ep);
  out.reserve(in.size());
  for (std::size_t i = 0; i < first.size() || i < second.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

}  // namespace detail_lookup

detail::task_operation<result<tcp_stream>> tcp_stream::connect(std::string_view host,
                                                               std::uint16_t port) {
  return detail::task_operation<result<tcp_stream>>(
      [h = std::string(host), port](std::stop_token stop) { return connect_by_name(h, port, std::move(stop)); });
}

detail::task_operation<result<tcp_stream>> tcp_stream::connect(std::span<const endpoint> to) {
  return detail::task_operation<result<tcp_stream>>(
      [eps = std::vector<endpoint>(to.begin(), to.end())](std::stop_token stop) {
        return happy_eyeballs(eps, std::move(stop));
      });
}

}  // namespace corio::net
