// demos/kv_server/commands.cpp: see commands.hpp.
#include "kv_server/commands.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <unordered_map>

#include "kv_server/glob.hpp"
#include "kv_server/resp.hpp"

namespace kv {

namespace {

using args = std::span<const std::string_view>;
using handler = void (*)(context&, session&, args, std::string&);

enum flag : unsigned {
  f_write = 1,     // changes the keyspace
  f_readonly = 2,  // reads it
  f_fast = 4,
  f_pubsub = 8,   // allowed while subscribed (RESP2)
  f_loading = 16,  // "ok-loading stale": connection commands
};

struct command {
  std::string_view name;  // lower case
  int arity;              // Redis's: n exact, -n at least n (the name counts)
  unsigned flags;
  int first_key, last_key, step;
  std::string_view group, since, summary;
  handler run;
};

constexpr std::string_view not_integer = "ERR value is not an integer or out of range";
constexpr std::string_view syntax_error = "ERR syntax error";

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return r;
}

void wrong_arity(std::string_view fullname, std::string& out) {
  std::string e = "ERR wrong number of arguments for '";
  e.append(fullname).append("' command");
  reply::error(out, e);
}

void unknown_subcommand(std::string_view sub, std::string_view cmd, std::string& out) {
  std::string e = "ERR unknown subcommand '";
  e.append(sub.substr(0, 128)).append("'. Try ").append(cmd).append(" HELP.");
  for (auto& c : e) c = (c == '\r' || c == '\n') ? ' ' : c;
  reply::error(out, e);
}

// ---- connection --------------------------------------------------------------------

void cmd_ping(context&, session& s, args a, std::string& out) {
  if (a.size() > 2) return wrong_arity("ping", out);
  if (s.sub && s.sub->count() > 0) {  // RESP2 subscribed mode: a two-element array
    reply::array(out, 2);
    reply::bulk(out, "pong");
    reply::bulk(out, a.size() == 2 ? a[1] : std::string_view());
  } else if (a.size() == 2) {
    reply::bulk(out, a[1]);
  } else {
    reply::simple(out, "PONG");
  }
}

void cmd_echo(context&, session&, args a, std::string& out) { reply::bulk(out, a[1]); }

void cmd_quit(context&, session& s, args, std::string& out) {
  reply::ok(out);
  s.quit = true;
}

void cmd_select(context&, session&, args a, std::string& out) {
  std::int64_t db;
  if (!parse_int64(a[1], db)) return reply::error(out, not_integer);
  if (db != 0) return reply::error(out, "ERR DB index is out of range");
  reply::ok(out);
}

// Redis accepts names of printable ASCII without spaces.
bool valid_client_name(std::string_view n) noexcept {
  return std::ranges::all_of(n, [](char c) { return c > ' ' && c <= '~'; });
}

void cmd_hello(context& ctx, session& s, args a, std::string& out) {
  if (a.size() >= 2) {
    std::int64_t ver;
    if (!parse_int64(a[1], ver)) {
      return reply::error(out, "ERR Protocol version is not an integer or out of range");
    }
    // RESP3 is not spoken here: refused the way Redis refuses versions it lacks.
    if (ver != 2) return reply::error(out, "NOPROTO unsupported protocol version");
  }
  std::string_view new_name;
  bool set_name = false;
  for (std::size_t i = 2; i < a.size(); ++i) {
    const bool more = i + 1 < a.size();
    if (iequals(a[i], "AUTH") && i + 2 < a.size()) {
      // No passwords here: the default user has none, as in a stock Redis.
      if (a[i + 1] != "default") {
        return reply::error(out, "WRONGPASS invalid username-password pair or user is disabled.");
      }
      i += 2;
    } else if (iequals(a[i], "SETNAME") && more) {
      new_name = a[++i];
      if (!valid_client_name(new_name)) {
        return reply::error(out, "ERR Client names cannot contain spaces, newlines or special characters.");
      }
      set_name = true;
    } else {
      std::string e = "ERR Syntax error in HELLO option '";
      e.append(a[i].substr(0, 128)).append("'");
      return reply::error(out, e);
    }
  }
  if (set_name) s.name.assign(new_name);
  reply::array(out, 14);
  reply::bulk(out, "server");
  reply::bulk(out, "redis");
  reply::bulk(out, "version");
  reply::bulk(out, "7.0.0");
  reply::bulk(out, "proto");
  reply::integer(out, 2);
  reply::bulk(out, "id");
  reply::integer(out, static_cast<std::int64_t>(s.id));
  reply::bulk(out, "mode");
  reply::bulk(out, "standalone");
  reply::bulk(out, "role");
  reply::bulk(out, "master");
  reply::bulk(out, "modules");
  reply::array(out, 0);
  (void)ctx;
}

void cmd_client(context&, session& s, args a, std::string& out) {
  const auto sub = a[1];
  if (iequals(sub, "SETNAME")) {
    if (a.size() != 3) return wrong_arity("client|setname", out);
    if (!valid_client_name(a[2])) {
      return reply::error(out, "ERR Client names cannot contain spaces, newlines or special characters.");
    }
    s.name.assign(a[2]);
    return reply::ok(out);
  }
  if (iequals(sub, "GETNAME")) {
    if (a.size() != 2) return wrong_arity("client|getname", out);
    if (s.name.empty()) return reply::null(out);
    return reply::bulk(out, s.name);
  }
  if (iequals(sub, "ID")) {
    if (a.size() != 2) return wrong_arity("client|id", out);
    return reply::integer(out, static_cast<std::int64_t>(s.id));
  }
  unknown_subcommand(sub, "CLIENT", out);
}

void cmd_dbsize(context& ctx, session&, args, std::string& out) {
  reply::integer(out, static_cast<std::int64_t>(ctx.db.size()));
}

void cmd_info(context& ctx, session&, args a, std::string& out) {
  bool server = a.size() == 1, clients = server, stats = server, keyspace = server;
  for (std::size_t i = 1; i < a.size(); ++i) {
    const auto sec = lower(a[i]);
    const bool all = sec == "all" || sec == "default" || sec == "everything";
    server |= all || sec == "server";
    clients |= all || sec == "clients";
    stats |= all || sec == "stats";
    keyspace |= all || sec == "keyspace";
  }
  std::string text;
  auto line = [&text](std::string_view k, auto v) {
    text.append(k).append(":");
    if constexpr (std::is_convertible_v<decltype(v), std::string_view>) {
      text.append(std::string_view(v));
    } else {
      text.append(std::to_string(v));
    }
    text.append("\r\n");
  };
  auto section = [&text](std::string_view title) {
    if (!text.empty()) text.append("\r\n");
    text.append("# ").append(title).append("\r\n");
  };
  const std::int64_t now = wall_clock_ms();
  if (server) {
    section("Server");
    line("redis_version", "7.0.0");
    line("server_name", "corio-kv_server");
    line("redis_mode", "standalone");
    line("multiplexing_api", "corio");
    line("io_threads_active", ctx.opts.threads > 1 ? 1 : 0);
    line("worker_threads", ctx.opts.threads);
    line("tcp_port", ctx.port);
    line("uptime_in_seconds", (now - ctx.started_ms) / 1000);
    line("uptime_in_days", (now - ctx.started_ms) / 86400000);
  }
  if (clients) {
    section("Clients");
    line("connected_clients", ctx.connected.load(std::memory_order_relaxed));
    line("client_query_buffer_limit", ctx.opts.max_request);
    line("pubsub_channels", ctx.ps.channels());
    line("pubsub_patterns", ctx.ps.patterns());
  }
  if (stats) {
    section("Stats");
    line("total_connections_received", ctx.accepted.load(std::memory_order_relaxed));
    line("expired_keys", ctx.db.expired_keys());
    line("client_output_buffer_limit_disconnections",
         ctx.pubsub_disconnects.load(std::memory_order_relaxed));
  }
  if (keyspace) {
    section("Keyspace");
    if (auto n = ctx.db.size(); n > 0) {
      text.append("db0:keys=").append(std::to_string(n)).append(",expires=");
      text.append(std::to_string(ctx.db.expires())).append(",avg_ttl=0\r\n");
    }
  }
  reply::bulk(out, text);
}

// CONFIG GET answers these (redis-benchmark asks for "save" and
// "appendonly" at start-up).
void cmd_config(context& ctx, session&, args a, std::string& out) {
  if (!iequals(a[1], "GET")) return unknown_subcommand(a[1], "CONFIG", out);
  if (a.size() < 3) return wrong_arity("config|get", out);
  const std::string pubsub_limit = "normal 0 0 0 slave 268435456 67108864 60 pubsub " +
                                   std::to_string(ctx.opts.pubsub_limit) + " 0 0";
  const std::pair<std::string_view, std::string> params[] = {
      {"save", ""},
      {"appendonly", "no"},
      {"databases", "1"},
      {"port", std::to_string(ctx.port)},
      {"maxmemory", "0"},
      {"timeout", "0"},
      {"proto-max-bulk-len", std::to_string(max_bulk_len)},
      {"client-query-buffer-limit", std::to_string(ctx.opts.max_request)},
      {"client-output-buffer-limit", pubsub_limit},
      {"io-threads", std::to_string(ctx.opts.threads)},
  };
  std::string body;
  std::size_t n = 0;
  for (const auto& [name, value] : params) {
    const bool match = std::any_of(a.begin() + 2, a.end(), [&](std::string_view p) {
      return glob_match(lower(p), name);
    });
    if (!match) continue;
    reply::bulk(body, name);
    reply::bulk(body, value);
    n += 2;
  }
  reply::array(out, n);
  out.append(body);
}

// ---- strings -----------------------------------------------------------------------

void cmd_get(context& ctx, session&, args a, std::string& out) { ctx.db.get(a[1], out); }
void cmd_getdel(context& ctx, session&, args a, std::string& out) { ctx.db.getdel(a[1], out); }

// An expire argument of SET / EXPIRE, in ms: false (with the reply) when
// it is not an integer or gives an invalid time.
bool expire_ms(std::string_view arg, std::int64_t unit, bool relative, std::int64_t now,
               std::string_view cmd, bool positive, std::int64_t& at, std::string& out) {
  std::int64_t v;
  if (!parse_int64(arg, v)) {
    reply::error(out, not_integer);
    return false;
  }
  std::string invalid = "ERR invalid expire time in '";
  invalid.append(cmd).append("' command");
  if (positive && v <= 0) {
    reply::error(out, invalid);
    return false;
  }
  if (__builtin_mul_overflow(v, unit, &v) || (relative && __builtin_add_overflow(v, now, &v))) {
    reply::error(out, invalid);
    return false;
  }
  at = v;
  return true;
}

void cmd_set(context& ctx, session&, args a, std::string& out) {
  set_options opt;
  enum { none, ex, px, exat, pxat } kind = none;
  std::string_view when_arg;
  for (std::size_t i = 3; i < a.size(); ++i) {
    const auto o = a[i];
    const bool more = i + 1 < a.size();
    using cond = set_options::condition;
    if (iequals(o, "NX") && opt.when != cond::if_present) {
      opt.when = cond::if_absent;
    } else if (iequals(o, "XX") && opt.when != cond::if_absent) {
      opt.when = cond::if_present;
    } else if (iequals(o, "GET")) {
      opt.get = true;
    } else if (iequals(o, "KEEPTTL") && kind == none) {
      opt.keep_ttl = true;
    } else if (more && !opt.keep_ttl && kind == none &&
               (iequals(o, "EX") || iequals(o, "PX") || iequals(o, "EXAT") || iequals(o, "PXAT"))) {
      kind = iequals(o, "EX") ? ex : iequals(o, "PX") ? px : iequals(o, "EXAT") ? exat : pxat;
      when_arg = a[++i];
    } else {
      return reply::error(out, syntax_error);
    }
  }
  if (kind != none) {
    const std::int64_t unit = kind == ex || kind == exat ? 1000 : 1;
    const bool relative = kind == ex || kind == px;
    if (!expire_ms(when_arg, unit, relative, relative ? ctx.db.now() : 0, "set", true,
                   opt.expire_at, out)) {
      return;
    }
  }
  ctx.db.set(a[1], a[2], opt, out);
}

void cmd_mget(context& ctx, session&, args a, std::string& out) { ctx.db.mget(a.subspan(1), out); }

void cmd_mset(context& ctx, session&, args a, std::string& out) {
  if (a.size() % 2 == 0) return wrong_arity("mset", out);
  ctx.db.mset(a.subspan(1), out);
}

void cmd_del(context& ctx, session&, args a, std::string& out) { ctx.db.del(a.subspan(1), out); }
void cmd_exists(context& ctx, session&, args a, std::string& out) {
  ctx.db.exists(a.subspan(1), out);
}

void cmd_incr(context& ctx, session&, args a, std::string& out) { ctx.db.incr_by(a[1], 1, out); }
void cmd_decr(context& ctx, session&, args a, std::string& out) { ctx.db.incr_by(a[1], -1, out); }

void cmd_incrby(context& ctx, session&, args a, std::string& out) {
  std::int64_t d;
  if (!parse_int64(a[2], d)) return reply::error(out, not_integer);
  ctx.db.incr_by(a[1], d, out);
}

void cmd_decrby(context& ctx, session&, args a, std::string& out) {
  std::int64_t d;
  if (!parse_int64(a[2], d)) return reply::error(out, not_integer);
  if (d == std::numeric_limits<std::int64_t>::min()) {
    return reply::error(out, "ERR decrement would overflow");
  }
  ctx.db.incr_by(a[1], -d, out);
}

void cmd_append(context& ctx, session&, args a, std::string& out) { ctx.db.append(a[1], a[2], out); }
void cmd_strlen(context& ctx, session&, args a, std::string& out) { ctx.db.strlen(a[1], out); }

// ---- expiry ------------------------------------------------------------------------

void expire_generic(context& ctx, args a, std::int64_t unit, std::string_view cmd, std::string& out) {
  expire_condition cond = expire_condition::always;
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t i = 3; i < a.size(); ++i) {
    if (iequals(a[i], "NX")) {
      nx = true;
    } else if (iequals(a[i], "XX")) {
      xx = true;
    } else if (iequals(a[i], "GT")) {
      gt = true;
    } else if (iequals(a[i], "LT")) {
      lt = true;
    } else {
      std::string e = "ERR Unsupported option ";
      e.append(a[i].substr(0, 128));
      return reply::error(out, e);
    }
  }
  if (nx && (xx || gt || lt)) {
    return reply::error(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return reply::error(out, "ERR GT and LT options at the same time are not compatible");
  if (nx) cond = expire_condition::nx;
  if (xx) cond = expire_condition::xx;
  if (gt) cond = expire_condition::gt;
  if (lt) cond = expire_condition::lt;
  std::int64_t at;
  if (!expire_ms(a[2], unit, true, ctx.db.now(), cmd, false, at, out)) return;
  ctx.db.expire_at(a[1], at, cond, out);
}

void cmd_expire(context& ctx, session&, args a, std::string& out) {
  expire_generic(ctx, a, 1000, "expire", out);
}
void cmd_pexpire(context& ctx, session&, args a, std::string& out) {
  expire_generic(ctx, a, 1, "pexpire", out);
}
void cmd_ttl(context& ctx, session&, args a, std::string& out) { ctx.db.ttl(a[1], false, out); }
void cmd_pttl(context& ctx, session&, args a, std::string& out) { ctx.db.ttl(a[1], true, out); }
void cmd_persist(context& ctx, session&, args a, std::string& out) { ctx.db.persist(a[1], out); }

// ---- keyspace ----------------------------------------------------------------------

void cmd_keys(context& ctx, session&, args a, std::string& out) { ctx.db.keys(a[1], out); }

void cmd_scan(context& ctx, session&, args a, std::string& out) {
  std::uint64_t cursor = 0;
  {
    auto [end, ec] = std::from_chars(a[1].data(), a[1].data() + a[1].size(), cursor);
    if (ec != std::errc() || end != a[1].data() + a[1].size()) {
      return reply::error(out, "ERR invalid cursor");
    }
  }
  std::string_view pattern = "*";
  std::size_t count = 10;
  bool type_ok = true;
  for (std::size_t i = 2; i < a.size(); i += 2) {
    if (i + 1 >= a.size()) return reply::error(out, syntax_error);
    if (iequals(a[i], "COUNT")) {
      std::int64_t c;
      if (!parse_int64(a[i + 1], c)) return reply::error(out, not_integer);
      if (c < 1) return reply::error(out, syntax_error);
      count = static_cast<std::size_t>(c);
    } else if (iequals(a[i], "MATCH")) {
      pattern = a[i + 1];
    } else if (iequals(a[i], "TYPE")) {
      type_ok = iequals(a[i + 1], "string");  // the only type stored here
    } else {
      return reply::error(out, syntax_error);
    }
  }
  ctx.db.scan(cursor, pattern, count, type_ok, out);
}

void cmd_flush(context& ctx, session&, args a, std::string& out) {
  if (a.size() > 2 || (a.size() == 2 && !iequals(a[1], "ASYNC") && !iequals(a[1], "SYNC"))) {
    return reply::error(out, syntax_error);
  }
  ctx.db.flush();
  reply::ok(out);
}

// ---- pub/sub -----------------------------------------------------------------------

subscriber& subscriber_of(context& ctx, session& s) {
  if (!s.sub) s.sub = std::make_unique<subscriber>(ctx.opts.pubsub_queue, ctx.opts.pubsub_limit);
  return *s.sub;
}

void cmd_subscribe(context& ctx, session& s, args a, std::string& out) {
  auto& sub = subscriber_of(ctx, s);
  kick_list kicks;
  deliver(s, out, kicks);  // replies before this one go first
  for (auto ch : a.subspan(1)) {
    const std::size_t after = sub.count() + (sub.channels.contains(ch) ? 0 : 1);
    ctx.ps.subscribe(sub, ch, confirmation("subscribe", ch, after), kicks);
  }
}

void cmd_psubscribe(context& ctx, session& s, args a, std::string& out) {
  auto& sub = subscriber_of(ctx, s);
  kick_list kicks;
  deliver(s, out, kicks);
  for (auto p : a.subspan(1)) {
    const std::size_t after = sub.count() + (sub.patterns.contains(p) ? 0 : 1);
    ctx.ps.psubscribe(sub, p, confirmation("psubscribe", p, after), kicks);
  }
}

// UNSUBSCRIBE / PUNSUBSCRIBE, with no names: every channel (pattern) the
// client has; with none at all, one confirmation with a nil name.
void unsubscribe_generic(context& ctx, session& s, args a, bool patterns, std::string& out) {
  const std::string_view kind = patterns ? "punsubscribe" : "unsubscribe";
  if (!s.sub) {  // never subscribed: nothing to order with, answer directly
    if (a.size() == 1) {
      out.append(*confirmation_nil(kind, 0));
    } else {
      for (auto n : a.subspan(1)) out.append(*confirmation(kind, n, 0));
    }
    return;
  }
  auto& sub = *s.sub;
  kick_list kicks;
  deliver(s, out, kicks);
  std::vector<std::string> names;
  if (a.size() > 1) {
    names.assign(a.begin() + 1, a.end());
  } else {
    const auto& mine = patterns ? sub.patterns : sub.channels;
    names.assign(mine.begin(), mine.end());
  }
  if (names.empty()) {
    kicks.offer(sub, confirmation_nil(kind, sub.count()));
    return;
  }
  for (const auto& n : names) {
    const auto& mine = patterns ? sub.patterns : sub.channels;
    const std::size_t after = sub.count() - (mine.contains(n) ? 1 : 0);
    if (patterns) {
      ctx.ps.punsubscribe(sub, n, confirmation(kind, n, after), kicks);
    } else {
      ctx.ps.unsubscribe(sub, n, confirmation(kind, n, after), kicks);
    }
  }
}

void cmd_unsubscribe(context& ctx, session& s, args a, std::string& out) {
  unsubscribe_generic(ctx, s, a, false, out);
}
void cmd_punsubscribe(context& ctx, session& s, args a, std::string& out) {
  unsubscribe_generic(ctx, s, a, true, out);
}

void cmd_publish(context& ctx, session&, args a, std::string& out) {
  reply::integer(out, static_cast<std::int64_t>(ctx.ps.publish(a[1], a[2])));
}

void cmd_command(context& ctx, session& s, args a, std::string& out);

constexpr unsigned conn = f_loading | f_fast;

const command table[] = {
    {"append", 3, f_write, 1, 1, 1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", cmd_append},
    {"client", -2, f_loading, 0, 0, 0, "connection", "2.4.0", "A container for client connection commands.", cmd_client},
    {"command", -1, f_loading, 0, 0, 0, "server", "2.8.13", "Returns detailed information about all commands.", cmd_command},
    {"config", -2, f_loading, 0, 0, 0, "server", "2.0.0", "A container for server configuration commands.", cmd_config},
    {"dbsize", 1, f_readonly | f_fast, 0, 0, 0, "server", "1.0.0", "Returns the number of keys in the database.", cmd_dbsize},
    {"decr", 2, f_write | f_fast, 1, 1, 1, "string", "1.0.0", "Decrements the integer value of a key by one.", cmd_decr},
    {"decrby", 3, f_write | f_fast, 1, 1, 1, "string", "1.0.0", "Decrements a number from the integer value of a key.", cmd_decrby},
    {"del", -2, f_write, 1, -1, 1, "generic", "1.0.0", "Deletes one or more keys.", cmd_del},
    {"echo", 2, conn, 0, 0, 0, "connection", "1.0.0", "Returns the given string.", cmd_echo},
    {"exists", -2, f_readonly | f_fast, 1, -1, 1, "generic", "1.0.0", "Determines whether one or more keys exist.", cmd_exists},
    {"expire", -3, f_write | f_fast, 1, 1, 1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", cmd_expire},
    {"flushall", -1, f_write, 0, 0, 0, "server", "1.0.0", "Removes all keys from all databases.", cmd_flush},
    {"flushdb", -1, f_write, 0, 0, 0, "server", "1.0.0", "Remove all keys from the current database.", cmd_flush},
    {"get", 2, f_readonly | f_fast, 1, 1, 1, "string", "1.0.0", "Returns the string value of a key.", cmd_get},
    {"getdel", 2, f_write | f_fast, 1, 1, 1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", cmd_getdel},
    {"hello", -1, conn, 0, 0, 0, "connection", "6.0.0", "Handshakes with the Redis server.", cmd_hello},
    {"incr", 2, f_write | f_fast, 1, 1, 1, "string", "1.0.0", "Increments the integer value of a key by one.", cmd_incr},
    {"incrby", 3, f_write | f_fast, 1, 1, 1, "string", "1.0.0", "Increments the integer value of a key by a number.", cmd_incrby},
    {"info", -1, f_loading, 0, 0, 0, "server", "1.0.0", "Returns information and statistics about the server.", cmd_info},
    {"keys", 2, f_readonly, 0, 0, 0, "generic", "1.0.0", "Returns all key names that match a pattern.", cmd_keys},
    {"mget", -2, f_readonly | f_fast, 1, -1, 1, "string", "1.0.0", "Atomically returns the string values of one or more keys.", cmd_mget},
    {"mset", -3, f_write, 1, -1, 2, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", cmd_mset},
    {"persist", 2, f_write | f_fast, 1, 1, 1, "generic", "2.2.0", "Removes the expiration time of a key.", cmd_persist},
    {"pexpire", -3, f_write | f_fast, 1, 1, 1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", cmd_pexpire},
    {"ping", -1, conn | f_pubsub, 0, 0, 0, "connection", "1.0.0", "Returns the server's liveliness response.", cmd_ping},
    {"psubscribe", -2, f_pubsub | f_loading, 0, 0, 0, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", cmd_psubscribe},
    {"pttl", 2, f_readonly | f_fast, 1, 1, 1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", cmd_pttl},
    {"publish", 3, f_loading | f_fast, 0, 0, 0, "pubsub", "2.0.0", "Posts a message to a channel.", cmd_publish},
    {"punsubscribe", -1, f_pubsub | f_loading, 0, 0, 0, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", cmd_punsubscribe},
    {"quit", -1, conn | f_pubsub, 0, 0, 0, "connection", "1.0.0", "Closes the connection.", cmd_quit},
    {"scan", -2, f_readonly, 0, 0, 0, "generic", "2.8.0", "Iterates over the key names in the database.", cmd_scan},
    {"select", 2, conn, 0, 0, 0, "connection", "1.0.0", "Changes the selected database.", cmd_select},
    {"set", -3, f_write, 1, 1, 1, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", cmd_set},
    {"strlen", 2, f_readonly | f_fast, 1, 1, 1, "string", "2.2.0", "Returns the length of a string value.", cmd_strlen},
    {"subscribe", -2, f_pubsub | f_loading, 0, 0, 0, "pubsub", "2.0.0", "Listens for messages published to channels.", cmd_subscribe},
    {"ttl", 2, f_readonly | f_fast, 1, 1, 1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", cmd_ttl},
    {"unsubscribe", -1, f_pubsub | f_loading, 0, 0, 0, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", cmd_unsubscribe},
};

// Case-insensitive lookup: the name is lowered into a small buffer first.
const command* find_command(std::string_view name) {
  static const auto index = [] {
    std::unordered_map<std::string_view, const command*> m;
    for (const auto& c : table) m.emplace(c.name, &c);
    return m;
  }();
  char buf[16];
  if (name.size() > sizeof buf) return nullptr;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  auto it = index.find(std::string_view(buf, name.size()));
  return it == index.end() ? nullptr : it->second;
}

void command_info(const command& c, std::string& out) {
  reply::array(out, 10);
  reply::bulk(out, c.name);
  reply::integer(out, c.arity);
  std::vector<std::string_view> flags;
  if (c.flags & f_write) flags.push_back("write");
  if (c.flags & f_readonly) flags.push_back("readonly");
  if (c.flags & f_pubsub) flags.push_back("pubsub");
  if (c.flags & f_loading) flags.push_back("loading");
  if (c.flags & f_loading) flags.push_back("stale");
  if (c.flags & f_fast) flags.push_back("fast");
  reply::array(out, flags.size());
  for (auto f : flags) reply::simple(out, f);
  reply::integer(out, c.first_key);
  reply::integer(out, c.last_key);
  reply::integer(out, c.step);
  reply::array(out, 0);  // ACL categories
  reply::array(out, 0);  // tips
  reply::array(out, 0);  // key specs
  reply::array(out, 0);  // subcommands
}

// COMMAND DOCS: in RESP2 a map is a flat array of keys and values.
void command_docs(const command& c, std::string& out) {
  reply::bulk(out, c.name);
  reply::array(out, 6);
  reply::bulk(out, "summary");
  reply::bulk(out, c.summary);
  reply::bulk(out, "since");
  reply::bulk(out, c.since);
  reply::bulk(out, "group");
  reply::bulk(out, c.group);
}

void cmd_command(context&, session&, args a, std::string& out) {
  if (a.size() == 1) {
    reply::array(out, std::size(table));
    for (const auto& c : table) command_info(c, out);
    return;
  }
  const auto sub = a[1];
  if (iequals(sub, "COUNT")) {
    if (a.size() != 2) return wrong_arity("command|count", out);
    return reply::integer(out, static_cast<std::int64_t>(std::size(table)));
  }
  if (iequals(sub, "LIST")) {
    if (a.size() != 2) return reply::error(out, syntax_error);
    reply::array(out, std::size(table));
    for (const auto& c : table) reply::bulk(out, c.name);
    return;
  }
  if (iequals(sub, "INFO")) {
    if (a.size() == 2) {
      reply::array(out, std::size(table));
      for (const auto& c : table) command_info(c, out);
      return;
    }
    reply::array(out, a.size() - 2);
    for (auto n : a.subspan(2)) {
      if (const auto* c = find_command(n)) {
        command_info(*c, out);
      } else {
        reply::null(out);
      }
    }
    return;
  }
  if (iequals(sub, "DOCS")) {
    if (a.size() == 2) {
      reply::array(out, 2 * std::size(table));
      for (const auto& c : table) command_docs(c, out);
      return;
    }
    std::string body;
    std::size_t n = 0;
    for (auto name : a.subspan(2)) {
      if (const auto* c = find_command(name)) {
        command_docs(*c, body);
        n += 2;
      }
    }
    reply::array(out, n);
    out.append(body);
    return;
  }
  unknown_subcommand(sub, "COMMAND", out);
}

}  // namespace

std::size_t command_count() noexcept { return std::size(table); }

void deliver(session& s, std::string& out, kick_list& kicks) {
  if (!s.sub || out.empty()) return;
  kicks.offer(*s.sub, std::make_shared<const std::string>(std::move(out)));
  out.clear();
}

void execute(context& ctx, session& s, std::span<const std::string_view> argv, std::string& out) {
  const command* c = find_command(argv[0]);
  if (c == nullptr) {
    std::string e = "ERR unknown command '";
    e.append(argv[0].substr(0, 128)).append("', with args beginning with: ");
    const std::size_t start = e.size();
    for (std::size_t i = 1; i < argv.size() && e.size() - start < 128; ++i) {
      e.append("'").append(argv[i].substr(0, 128 - (e.size() - start))).append("' ");
    }
    for (auto& ch : e) ch = (ch == '\r' || ch == '\n') ? ' ' : ch;
    return reply::error(out, e);
  }
  const auto argc = static_cast<int>(argv.size());
  if ((c->arity > 0 && c->arity != argc) || argc < -c->arity) return wrong_arity(c->name, out);
  if (s.sub && s.sub->count() > 0 && !(c->flags & f_pubsub)) {
    std::string e = "ERR Can't execute '";
    e.append(c->name).append(
        "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
    return reply::error(out, e);
  }
  c->run(ctx, s, argv, out);
}

}  // namespace kv
