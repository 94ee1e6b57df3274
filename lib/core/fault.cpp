// lib/core/fault.cpp: targeted fault injection (docs/fault-injection.md).
//
// The installed rules are one immutable set behind an atomic pointer; a
// new set replaces it whole, and the old one is kept (never freed) because
// a site on another worker may still be reading it. Each rule counts its own
// occurrences with one atomic counter, so the check takes no lock.
#include "core/fault.hpp"

#include <array>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/worker.hpp"

namespace corio {
namespace detail {

namespace {

constexpr std::size_t max_rules = 16;

constexpr std::array<std::string_view, static_cast<std::size_t>(fault_site::count_)> site_names = {
    "op_start",     "uring_get_sqe", "uring_submit", "cq_overflow",         "uring_cancel_submit",
    "uring_wake_rearm", "epoll_ctl_add", "epoll_wait", "posted_wake",       "timer_alloc",
    "stop_registry_alloc", "signal_pipe", "iocp_post", "iocp_dequeue",
    "uring_msg_ring",
};

struct rule_state {
  testing::fault_rule rule;
  std::atomic<std::uint64_t> seen{0};  // occurrences that matched this rule
};

struct rule_set {
  std::array<rule_state, max_rules> rules;
  std::size_t size = 0;
  rule_set* older = nullptr;  // the set this one replaced (kept alive)
};

std::atomic<rule_set*> installed{nullptr};
std::mutex install_mu;  // serializes set_faults
std::array<std::atomic<std::uint64_t>, site_names.size()> injected{};

// splitmix64: one well-mixed 64-bit value per (seed, site, occurrence).
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool matches(const testing::fault_rule& r, fault_site s, int worker) noexcept {
  const bool site = r.any_site ? s != fault_site::signal_pipe : r.site == s;
  return site && (r.worker < 0 || r.worker == worker);
}

bool fails(const testing::fault_rule& r, fault_site s, std::uint64_t k) noexcept {
  if (r.nth != 0) return k >= r.nth && k - r.nth < r.count;
  const std::uint64_t h = mix(r.seed ^ (std::uint64_t{static_cast<std::uint8_t>(s)} << 56) ^ mix(k));
  return static_cast<double>(h >> 11) * 0x1.0p-53 < r.rate;
}

bool valid(const testing::fault_rule& r) noexcept {
  if (!r.any_site && static_cast<std::size_t>(r.site) >= site_names.size()) return false;
  if (r.nth == 0) return r.rate > 0 && r.rate <= 1;
  return r.count > 0;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <class Int>
bool parse_int(std::string_view v, Int& out) noexcept {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size();
}

bool parse_rate(std::string_view v, double& out) {
  if (v.empty() || v.size() > 32) return false;
  const std::string text(v);
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

// One rule of the CORIO_FAULTS syntax (see corio/testing.hpp).
bool parse_rule(std::string_view text, testing::fault_rule& r) {
  r = {};
  r.any_site = true;
  bool nth_given = false, rate_given = false;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    const auto name = trim(text.substr(0, colon));
    std::size_t i = 0;
    while (i < site_names.size() && site_names[i] != name) ++i;
    if (i == site_names.size()) return false;
    r.any_site = false;
    r.site = static_cast<fault_site>(i);
    text.remove_prefix(colon + 1);
  }
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return false;
    const auto key = trim(item.substr(0, eq));
    const auto value = trim(item.substr(eq + 1));
    bool ok;
    if (key == "nth") {
      ok = parse_int(value, r.nth);
      nth_given = true;
    } else if (key == "count") {
      ok = parse_int(value, r.count);
    } else if (key == "worker") {
      ok = parse_int(value, r.worker);
    } else if (key == "rate") {
      ok = parse_rate(value, r.rate);
      rate_given = true;
    } else if (key == "seed") {
      ok = parse_int(value, r.seed);
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  // A rate without nth means random failures (and must then be above 0).
  if (rate_given && !nth_given) r.nth = 0;
  return valid(r);
}

}  // namespace

bool fault_decide(fault_site s) noexcept {
  rule_set* set = installed.load(std::memory_order_acquire);
  if (!set) return false;
  const worker* w = worker::current();
  const int index = w ? static_cast<int>(w->index()) : -1;
  for (std::size_t i = 0; i < set->size; ++i) {
    rule_state& st = set->rules[i];
    if (!matches(st.rule, s, index)) continue;
    const std::uint64_t k = st.seen.fetch_add(1, std::memory_order_relaxed) + 1;
    if (fails(st.rule, s, k)) {
      injected[static_cast<std::size_t>(s)].fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

result<void> load_faults_from_env() noexcept {
  static const result<void> loaded = []() -> result<void> {
    const char* spec = std::getenv("CORIO_FAULTS");
    if (!spec || !*spec) return {};
    auto r = testing::set_faults(std::string_view(spec));
    if (!r) {
      log(log_level::error, std::string("CORIO_FAULTS is malformed: '") + spec + "'");
      return r;
    }
    log(log_level::warning, std::string("fault injection on: CORIO_FAULTS='") + spec + "'");
    return {};
  }();
  return loaded;
}

}  // namespace detail

std::string_view testing::to_string(fault_site s) noexcept {
  const auto i = static_cast<std::size_t>(s);
  return i < detail::site_names.size() ? detail::site_names[i] : "unknown";
}

result<void> testing::set_faults(std::span<const fault_rule> rules) noexcept {
  using namespace detail;
  if (rules.size() > max_rules) return fail(std::errc::invalid_argument);
  for (const auto& r : rules) {
    if (!valid(r)) return fail(std::errc::invalid_argument);
  }
  std::lock_guard lock(install_mu);
  rule_set* set = nullptr;
  if (!rules.empty()) {
    set = new (std::nothrow) rule_set;
    if (!set) return fail(std::errc::not_enough_memory);
    for (const auto& r : rules) set->rules[set->size++].rule = r;
  }
  // The set replaced stays reachable from the new one (or from the chain
  // of retired sets below): a site may still be reading it.
  static rule_set* retired = nullptr;
  if (rule_set* old = installed.exchange(set, std::memory_order_acq_rel)) {
    old->older = retired;
    retired = old;
  }
  faults_armed.store(set != nullptr, std::memory_order_relaxed);
  return {};
}

result<void> testing::set_faults(std::string_view spec) noexcept {
  std::vector<fault_rule> rules;
  try {
    while (!spec.empty()) {
      const auto semi = spec.find(';');
      const auto text = detail::trim(spec.substr(0, semi));
      spec = semi == std::string_view::npos ? std::string_view{} : spec.substr(semi + 1);
      if (text.empty()) continue;
      fault_rule r;
      if (!detail::parse_rule(text, r)) return fail(std::errc::invalid_argument);
      rules.push_back(r);
    }
  } catch (const std::bad_alloc&) {
    return fail(std::errc::not_enough_memory);
  }
  return set_faults(std::span<const fault_rule>(rules));
}

void testing::clear_faults() noexcept { (void)set_faults(std::span<const fault_rule>{}); }

std::uint64_t testing::faults_injected(fault_site s) noexcept {
  const auto i = static_cast<std::size_t>(s);
  return i < detail::injected.size() ? detail::injected[i].load(std::memory_order_relaxed) : 0;
}

void testing::fail_next_submissions(int n) noexcept {
  if (n <= 0) {
    clear_faults();
    return;
  }
  const fault_rule r{.site = fault_site::op_start, .nth = 1, .count = static_cast<std::uint64_t>(n)};
  (void)set_faults(std::span(&r, 1));
}

}  // namespace corio
