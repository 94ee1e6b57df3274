// corio/when.hpp: waiting for several tasks at once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "corio/scope.hpp"
#include "corio/task.hpp"

namespace corio {

namespace detail {

template <class T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
task<void> fill_slot(task<T> t, std::optional<non_void_t<T>>& slot) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    slot.emplace();
  } else {
    slot.emplace(co_await std::move(t));
  }
}

template <class F>
using any_value_t = typename std::invoke_result_t<F&, std::stop_token>::value_type;

// The shared state of one when_any: who won, with what.
template <class T>
struct any_state {
  std::vector<std::stop_source> sources;
  std::atomic<bool> decided{false};
  std::size_t index = 0;
  std::optional<non_void_t<T>> value;
  std::exception_ptr error;

  // The first child to finish wins; it stops all the others.
  bool claim(std::size_t i) noexcept {
    if (decided.exchange(true, std::memory_order_acq_rel)) return false;
    index = i;
    for (std::size_t j = 0; j < sources.size(); ++j) {
      if (j != i) sources[j].request_stop();
    }
    return true;
  }
};

template <class T>
task<void> any_child(task<T> t, std::size_t i, any_state<T>& st) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
      if (st.claim(i)) st.value.emplace();
    } else {
      auto v = co_await std::move(t);
      if (st.claim(i)) st.value.emplace(std::move(v));
    }
  } catch (...) {
    if (st.claim(i)) st.error = std::current_exception();
  }
}

}  // namespace detail

/// Runs every task concurrently on this worker and resumes when all have
/// finished, with their values in order (void gives std::monostate). If any
/// threw, the first exception is rethrown, after all have finished.
template <class... T>
task<std::tuple<detail::non_void_t<T>...>> when_all(task<T>... tasks) {
  std::tuple<std::optional<detail::non_void_t<T>>...> slots;
  scope s;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (s.spawn_local(detail::fill_slot(std::move(tasks), std::get<I>(slots))), ...);
  }(std::index_sequence_for<T...>{});
  co_await s.join();
  co_return std::apply([](auto&... o) { return std::tuple{std::move(*o)...}; }, slots);
}

/// when_all over a range of tasks of one type.
template <class T>
task<std::vector<detail::non_void_t<T>>> when_all(std::vector<task<T>> tasks) {
  std::vector<std::optional<detail::non_void_t<T>>> slots(tasks.size());
  scope s;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    s.spawn_local(detail::fill_slot(std::move(tasks[i]), slots[i]));
  }
  co_await s.join();
  std::vector<detail::non_void_t<T>> out;
  out.reserve(slots.size());
  for (auto& o : slots) out.push_back(std::move(*o));
  co_return out;
}

/// The winner of a when_any: which one, and its value.
template <class T>
struct any_result {
  std::size_t index;
  detail::non_void_t<T> value;
};

/// Runs `make(token)` for each callable concurrently on this worker, each
/// with its own stop token. The first task to finish wins: every other one
/// is stopped (its operations run `with_stop(op, token)` end with
/// operation_canceled) and joined before when_any returns. Returns the
/// winner's index and value, or rethrows the winner's exception. All the
/// callables must give tasks of one value type.
template <class F, class... Fs>
task<any_result<detail::any_value_t<F>>> when_any(F first, Fs... rest) {
  using T = detail::any_value_t<F>;
  static_assert((std::is_same_v<T, detail::any_value_t<Fs>> && ...),
                "when_any: every task must have the same value type");
  detail::any_state<T> st;
  st.sources.resize(1 + sizeof...(Fs));
  scope s;
  std::size_t i = 0;
  auto start = [&](auto& make) {
    s.spawn_local(detail::any_child<T>(make(st.sources[i].get_token()), i, st));
    ++i;
  };
  start(first);
  (start(rest), ...);
  co_await s.join();
  if (st.error) std::rethrow_exception(st.error);
  co_return any_result<T>{st.index, std::move(*st.value)};
}

/// when_any over a range of callables of one type.
template <class F>
task<any_result<detail::any_value_t<F>>> when_any(std::vector<F> makers) {
  using T = detail::any_value_t<F>;
  if (makers.empty()) throw std::invalid_argument("corio::when_any: no tasks to wait for");
  detail::any_state<T> st;
  st.sources.resize(makers.size());
  scope s;
  for (std::size_t i = 0; i < makers.size(); ++i) {
    s.spawn_local(detail::any_child<T>(makers[i](st.sources[i].get_token()), i, st));
  }
  co_await s.join();
  if (st.error) std::rethrow_exception(st.error);
  co_return any_result<T>{st.index, std::move(*st.value)};
}

}  // namespace corio
