// corio/when.hpp: waiting for several tasks or operations at once.
#pragma once

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

#include "corio/cancel.hpp"
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

// An operation awaited as a task (for when_all).
template <op_awaiter A>
task<op_result_t<A>> op_task(A op) {
  co_return co_await std::move(op);
}
// An operation awaited as a task that `token` stops (for when_any).
template <op_awaiter A>
task<op_result_t<A>> op_task_until(A op, std::stop_token token) {
  co_return co_await stoppable<A>(std::move(op), token);
}

// when_all's arguments: a task, or an operation turned into one.
template <class X>
auto as_task(X x) {
  if constexpr (op_awaiter<X>) {
    return op_task(std::move(x));
  } else {
    return x;
  }
}
template <class X>
concept all_operand = is_task_v<X> || op_awaiter<X>;

// when_any's arguments: a task factory, or an operation, started as a child
// task that `token` stops. `x` stays in when_any's frame while the child
// runs (a factory lambda's captures live there).
template <class X>
auto start_child(X& x, std::stop_token token) {
  if constexpr (op_awaiter<X>) {
    return op_task_until(std::move(x), std::move(token));
  } else {
    return x(std::move(token));
  }
}
template <class X>
concept any_operand = task_factory<X> || op_awaiter<X>;
template <class X>
using any_value_t =
    typename decltype(start_child(std::declval<X&>(), std::stop_token{}))::value_type;

// The shared state of one when_any: who won, and how every child ended.
template <class T>
struct any_state {
  explicit any_state(std::size_t n) : sources(n), values(n), errors(n) {}
  std::vector<std::stop_source> sources;
  std::atomic<bool> decided{false};
  std::size_t index = 0;
  // One slot per child, written by that child alone; read after the join.
  std::vector<std::optional<non_void_t<T>>> values;
  std::vector<std::exception_ptr> errors;

  // The first child to finish wins; it stops all the others.
  void finished(std::size_t i) noexcept {
    if (decided.exchange(true, std::memory_order_acq_rel)) return;
    index = i;
    for (std::size_t j = 0; j < sources.size(); ++j) {
      if (j != i) sources[j].request_stop();
    }
  }
};

template <class T>
task<void> any_child(task<T> t, std::size_t i, any_state<T>& st) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
      st.values[i].emplace();
    } else {
      st.values[i].emplace(co_await std::move(t));
    }
  } catch (...) {
    st.errors[i] = std::current_exception();
  }
  st.finished(i);
}

}  // namespace detail

/// Runs every task concurrently on this worker and resumes when all have
/// finished, with their values in order (void gives std::monostate). If any
/// threw, the first exception is rethrown, after all have finished. An
/// argument may also be an operation (a read, a write, a sleep, with_stop or
/// with_timeout of one): it gives its result<...>.
template <detail::all_operand... X>
task<std::tuple<detail::non_void_t<typename decltype(detail::as_task(std::declval<X>()))::value_type>...>>
when_all(X... operands) {
  std::tuple<std::optional<
      detail::non_void_t<typename decltype(detail::as_task(std::declval<X>()))::value_type>>...>
      slots;
  co_await with_scope([&](scope& s) -> task<void> {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (s.spawn_local(detail::fill_slot(detail::as_task(std::move(operands)), std::get<I>(slots))), ...);
    }(std::index_sequence_for<X...>{});
    co_return;
  });
  co_return std::apply([](auto&... o) { return std::tuple{std::move(*o)...}; }, slots);
}

/// when_all over a range of tasks of one type.
template <class T>
task<std::vector<detail::non_void_t<T>>> when_all(std::vector<task<T>> tasks) {
  std::vector<std::optional<detail::non_void_t<T>>> slots(tasks.size());
  co_await with_scope([&](scope& s) -> task<void> {
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      s.spawn_local(detail::fill_slot(std::move(tasks[i]), slots[i]));
    }
    co_return;
  });
  std::vector<detail::non_void_t<T>> out;
  out.reserve(slots.size());
  for (auto& o : slots) out.push_back(std::move(*o));
  co_return out;
}

/// How a child of when_any that did not win ended: with a value (which may
/// be a result it produced anyway, after it was told to stop: data read,
/// a message received), or with an exception. Exactly one is set.
template <class T>
struct any_loser {
  /// The child's position among when_any's arguments.
  std::size_t index;
  std::optional<detail::non_void_t<T>> value;
  std::exception_ptr error;
};

/// What when_any gives: the winner's index and value, and how every other
/// child ended. Nothing a child produced is dropped.
template <class T>
struct any_result {
  std::size_t index;
  detail::non_void_t<T> value;
  /// Every other child, in argument order.
  std::vector<any_loser<T>> losers;
};

namespace detail {
// Runs the children (already made, each with its token from `st`) and
// collects every outcome.
template <class T>
task<any_result<T>> run_any(any_state<T>& st, std::vector<task<T>> children) {
  co_await with_scope([&](scope& s) -> task<void> {
    for (std::size_t i = 0; i < children.size(); ++i) {
      s.spawn_local(any_child<T>(std::move(children[i]), i, st));
    }
    co_return;
  });
  if (st.errors[st.index]) std::rethrow_exception(st.errors[st.index]);
  any_result<T> r{st.index, std::move(*st.values[st.index]), {}};
  r.losers.reserve(children.size() - 1);
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (i != st.index) r.losers.push_back({i, std::move(st.values[i]), std::move(st.errors[i])});
  }
  co_return r;
}
}  // namespace detail

/// Runs each child concurrently on this worker: a task factory
/// (`(std::stop_token) -> task<T>`, called with the child's own token) or an
/// operation (run as with_stop(op, token)). The first child to finish wins:
/// every other one is stopped and joined before when_any returns. Returns
/// the winner's index and value, and every loser's outcome: a loser that
/// completed anyway (a read that took data from its socket before its
/// cancel landed) is in `losers` with its value, never dropped; a loser that
/// threw is there with its exception. If the winner threw, its exception is
/// rethrown after the join (the losers' outcomes are then destroyed: a child
/// whose result must not be lost should not throw). All children must give
/// one value type.
template <detail::any_operand X, detail::any_operand... Xs>
task<any_result<detail::any_value_t<X>>> when_any(X first, Xs... rest) {
  using T = detail::any_value_t<X>;
  static_assert((std::is_same_v<T, detail::any_value_t<Xs>> && ...),
                "when_any: every child must have the same value type");
  detail::any_state<T> st(1 + sizeof...(Xs));
  std::vector<task<T>> children;
  children.reserve(1 + sizeof...(Xs));
  std::size_t i = 0;
  auto make = [&](auto& x) {
    children.push_back(detail::start_child(x, st.sources[i].get_token()));
    ++i;
  };
  make(first);
  (make(rest), ...);
  co_return co_await detail::run_any<T>(st, std::move(children));
}

/// when_any over a range of children of one type.
template <detail::any_operand X>
task<any_result<detail::any_value_t<X>>> when_any(std::vector<X> makers) {
  using T = detail::any_value_t<X>;
  if (makers.empty()) throw std::invalid_argument("corio::when_any: no tasks to wait for");
  detail::any_state<T> st(makers.size());
  std::vector<task<T>> children;
  children.reserve(makers.size());
  for (std::size_t i = 0; i < makers.size(); ++i) {
    children.push_back(detail::start_child(makers[i], st.sources[i].get_token()));
  }
  co_return co_await detail::run_any<T>(st, std::move(children));
}

}  // namespace corio
