// bench/kv_shards.cpp: the two ways to shard kv_server's keyspace without a
// global lock, measured on a GET/SET mix (docs/kv-server.md has the
// reasoning and the figures).
//
//   striped     one store of S stripes, each with its own mutex; every
//               worker touches every key directly (what kv_server does).
//   per-worker  one store per worker, touched only by its owner; a request
//               for a key of the other worker is passed to it through a
//               corio::channel and the answer comes back through a
//               corio::event (two cross-worker wake-ups).
//
// Each mode runs C client coroutines spread over 2 workers, each doing N
// operations (half GET, half SET of 16-byte values, keys uniform over 100k),
// and prints operations/s and process CPU per operation.
//
//   build/bench/bench/kv_shards [clients] [ops per client]
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "corio/corio.hpp"
#include "corio/sync/channel.hpp"
#include "corio/sync/event.hpp"
#include "kv_server/store.hpp"

namespace {

constexpr int key_space = 100000;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string key_of(std::mt19937& gen) { return "key:" + std::to_string(gen() % key_space); }

void op(kv::store& db, const std::string& key, bool set, std::string& out) {
  static const std::string value(16, 'v');
  out.clear();
  if (set) {
    db.set(key, value, {}, out);
  } else {
    db.get(key, out);
  }
}

// ---- striped ---------------------------------------------------------------------

corio::task<void> striped_client(kv::store& db, int ops, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out;
  for (int i = 0; i < ops; ++i) {
    op(db, key_of(gen), i % 2 == 0, out);
    if (i % 64 == 63) co_await corio::yield();  // let the worker's other clients run, as sockets would
  }
}

// ---- per-worker --------------------------------------------------------------------

struct request {
  const std::string* key;
  bool set;
  std::string* out;
  corio::event* done;
};

struct owner {
  kv::store db{kv::wall_clock_ms, 1};
  corio::channel<request*> inbox{1024};
  std::atomic<std::thread::id> thread{};
};

corio::task<void> serve_owner(owner& o, corio::event& ready) {
  o.thread.store(std::this_thread::get_id());
  ready.set();
  for (;;) {
    auto r = co_await o.inbox.receive();
    if (!r) co_return;  // closed
    op(o.db, *(*r)->key, (*r)->set, *(*r)->out);
    (*r)->done->set();
  }
}

corio::task<void> per_worker_client(owner* owners, int ops, unsigned seed, std::atomic<long>& hops) {
  std::mt19937 gen(seed);
  std::string out;
  corio::event done;
  for (int i = 0; i < ops; ++i) {
    const auto key = key_of(gen);
    owner& o = owners[std::hash<std::string>{}(key) % 2];
    if (o.thread.load() == std::this_thread::get_id()) {
      op(o.db, key, i % 2 == 0, out);  // our own worker's key: no hop
      if (i % 64 == 63) co_await corio::yield();
      continue;
    }
    done.reset();
    request r{&key, i % 2 == 0, &out, &done};
    (void)co_await o.inbox.send(&r);
    co_await done.wait();
    hops.fetch_add(1, std::memory_order_relaxed);
  }
}

template <class F>
void measure(const char* name, long total, F&& body) {
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  body();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - c0;
  std::printf("%-11s %10.0f ops/s  %7.1f ns CPU/op\n", name, static_cast<double>(total) / wall,
              cpu * 1e9 / static_cast<double>(total));
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 50;
  const int ops = argc > 2 ? std::atoi(argv[2]) : 20000;
  auto rt = corio::runtime::create({.threads = 2});
  if (!rt) return 1;
  const long total = static_cast<long>(clients) * ops;
  std::printf("%d clients x %d operations (GET/SET 1:1, 100k keys) on 2 workers\n", clients, ops);

  kv::store striped;
  measure("striped", total, [&] {
    rt->block_on([&]() -> corio::task<void> {
      corio::scope s;
      for (int c = 0; c < clients; ++c) s.spawn(striped_client(striped, ops, static_cast<unsigned>(c)));
      co_await s.join();
    }());
  });

  owner owners[2];
  std::atomic<long> hops{0};
  bool distinct = true;
  measure("per-worker", total, [&] {
    rt->block_on([&]() -> corio::task<void> {
      corio::scope servers, s;
      corio::event ready0, ready1;
      servers.spawn(serve_owner(owners[0], ready0));
      servers.spawn(serve_owner(owners[1], ready1));
      co_await ready0.wait();
      co_await ready1.wait();
      distinct = owners[0].thread.load() != owners[1].thread.load();
      for (int c = 0; c < clients; ++c) s.spawn(per_worker_client(owners, ops, static_cast<unsigned>(c), hops));
      co_await s.join();
      owners[0].inbox.close();
      owners[1].inbox.close();
      co_await servers.join();
    }());
  });
  std::printf("per-worker: %.0f%% of operations hopped to the other worker%s\n",
              100.0 * static_cast<double>(hops.load()) / static_cast<double>(total),
              distinct ? "" : " (both owners landed on one worker: rerun)");
  return 0;
}
