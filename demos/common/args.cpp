// demos/common/args.cpp: see args.hpp.
#include "common/args.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace demo {

namespace {

std::string quoted(std::string_view v) {
  return "'" + std::string(v) + "'";
}

}  // namespace

args::args(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {
  flag("help", help_, "show this help and exit");
}

void args::add(std::string_view name, std::string_view metavar, std::string_view help,
               std::string default_shown, setter set) {
  options_.push_back({.name = std::string(name),
                      .metavar = std::string(metavar),
                      .help = std::string(help),
                      .default_shown = std::move(default_shown),
                      .set = std::move(set)});
}

args& args::number(std::string_view name, std::string_view metavar, double& out, double min,
                   double max, std::string_view help) {
  add(name, metavar, help, format_number(out), [&out, min, max](std::string_view v) {
    return parse_number(v, min, max, [&out](double x) { out = x; });
  });
  return *this;
}

args& args::number(std::string_view name, std::string_view metavar, std::optional<double>& out,
                   double min, double max, std::string_view help) {
  add(name, metavar, help, "", [&out, min, max](std::string_view v) {
    return parse_number(v, min, max, [&out](double x) { out = x; });
  });
  return *this;
}

args& args::seconds(std::string_view name, std::chrono::milliseconds& out, double max,
                    std::string_view help, std::string_view zero_means) {
  std::string text(help);
  if (!zero_means.empty()) text.append("; 0 = ").append(zero_means);
  add(name, "SECONDS", text, format_number(static_cast<double>(out.count()) / 1000),
      [&out, max, zero = !zero_means.empty()](std::string_view v) {
        return parse_seconds(v, max, zero, out);
      });
  return *this;
}

args& args::text(std::string_view name, std::string_view metavar, std::string& out,
                 std::string_view help) {
  add(name, metavar, help, out, [&out](std::string_view v) -> std::string {
    if (v.empty()) return "needs a non-empty value";
    out = std::string(v);
    return {};
  });
  return *this;
}

args& args::choice(std::string_view name, std::string& out,
                   std::initializer_list<std::string_view> choices, std::string_view help) {
  std::string list;
  for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  add(name, "NAME", std::string(help) + "; one of " + list, out,
      [&out, names = std::vector<std::string_view>(choices), list](std::string_view v) {
        if (std::ranges::find(names, v) == names.end()) return quoted(v) + " is not one of " + list;
        out = std::string(v);
        return std::string();
      });
  return *this;
}

args& args::flag(std::string_view name, bool& out, std::string_view help) {
  add(name, "", help, "", nullptr);
  options_.back().flag = &out;
  return *this;
}

args& args::required() {
  options_.back().required = true;
  options_.back().default_shown.clear();
  return *this;
}

args& args::default_text(std::string_view text) {
  options_.back().default_shown = std::string(text);
  return *this;
}

args::option* args::find(std::string_view name) {
  auto it = std::ranges::find(options_, name, &option::name);
  return it == options_.end() ? nullptr : &*it;
}

std::optional<int> args::parse(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--") || arg.size() == 2) {
      return fail("unexpected argument " + quoted(arg) + " (options start with --)");
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> value;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    option* o = find(name);
    if (!o) return fail("unknown option " + quoted("--" + std::string(name)));
    if (o->seen) return fail("--" + o->name + " given twice");
    o->seen = true;
    if (o->flag) {
      if (value) return fail("--" + o->name + " takes no value");
      *o->flag = true;
      continue;
    }
    if (!value) {
      // The next argument is the value, unless it is another option.
      if (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--")) {
        return fail("--" + o->name + " needs a value (" + o->metavar + ")");
      }
      value = argv[++i];
    }
    if (auto error = o->set(*value); !error.empty()) return fail("--" + o->name + ": " + error);
  }
  if (help_) {
    std::fputs(help().c_str(), stdout);
    std::fflush(stdout);
    return 0;
  }
  for (const auto& o : options_) {
    if (o.required && !o.seen) return fail("--" + o.name + " is required");
  }
  return std::nullopt;
}

int args::fail(std::string_view message) const {
  std::string out = program_ + ": " + std::string(message) + "\n" + usage_line() + "Try '" +
                    program_ + " --help' for more.\n";
  std::fputs(out.c_str(), stderr);
  return exit_usage;
}

std::string args::usage_line() const {
  std::string line = "usage: " + program_;
  for (const auto& o : options_) {
    if (o.required) line += " --" + o.name + " " + o.metavar;
  }
  return line + " [options]\n";
}

std::string args::help() const {
  constexpr std::size_t line_width = 80;
  std::vector<std::string> heads;
  std::size_t width = 0;
  for (const auto& o : options_) {
    heads.push_back("--" + o.name + (o.metavar.empty() ? "" : " " + o.metavar));
    width = std::max(width, heads.back().size());
  }
  const std::size_t indent = 2 + width + 2;
  std::string out = usage_line() + "\n" + summary_ + "\n\noptions:\n";
  for (std::size_t i = 0; i < options_.size(); ++i) {
    const auto& o = options_[i];
    std::string text = o.help;
    if (o.required) {
      text += " (required)";
    } else if (!o.default_shown.empty()) {
      text += " (default: " + o.default_shown + ")";
    }
    // Word-wrap the description into the column after the option names.
    std::string line = "  " + heads[i] + std::string(width - heads[i].size() + 2, ' ');
    std::size_t used = indent;
    std::size_t pos = 0;
    bool first_word = true;
    while (pos < text.size()) {
      std::size_t end = text.find(' ', pos);
      if (end == std::string::npos) end = text.size();
      std::string_view word(text.data() + pos, end - pos);
      if (!first_word && used + 1 + word.size() > line_width) {
        out += line + "\n";
        line = std::string(indent, ' ');
        used = indent;
        first_word = true;
      }
      if (!first_word) {
        line += ' ';
        ++used;
      }
      line += word;
      used += word.size();
      first_word = false;
      pos = end + 1;
    }
    out += line + "\n";
  }
  return out;
}

std::string args::parse_integer(std::string_view v, std::int64_t min, std::int64_t max,
                                const std::function<void(std::int64_t)>& store) {
  std::int64_t x = 0;
  const char* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, x);
  std::string range = " (" + std::to_string(min) + " to " + std::to_string(max) + ")";
  if (ec == std::errc::result_out_of_range) return quoted(v) + " is out of range" + range;
  if (ec != std::errc() || p != end) return quoted(v) + " is not a whole number";
  if (x < min || x > max) return quoted(v) + " is out of range" + range;
  store(x);
  return {};
}

std::string args::parse_number(std::string_view v, double min, double max,
                               const std::function<void(double)>& store) {
  double x = 0;
  const char* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, x);
  std::string range = " (" + format_number(min) + " to " + format_number(max) + ")";
  if (ec == std::errc::result_out_of_range) return quoted(v) + " is out of range" + range;
  if (ec != std::errc() || p != end || !std::isfinite(x)) return quoted(v) + " is not a number";
  if (x < min || x > max) return quoted(v) + " is out of range" + range;
  store(x);
  return {};
}

std::string args::parse_seconds(std::string_view v, double max, bool zero_allowed,
                                std::chrono::milliseconds& out) {
  double x = 0;
  if (auto e = parse_number(v, 0, max, [&x](double d) { x = d; }); !e.empty()) return e;
  if (x == 0 && zero_allowed) {
    out = std::chrono::milliseconds(0);
    return {};
  }
  // Timers count whole milliseconds: a shorter duration would round to 0,
  // which means something else (or nothing), so it is refused, not rounded.
  if (x < 0.001) {
    return quoted(v) + " is under 1 ms, the timers' resolution: use at least 0.001" +
           (zero_allowed ? " (or 0)" : "");
  }
  out = std::chrono::milliseconds(std::llround(x * 1000));
  return {};
}

std::string args::format_number(double x) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, p) : std::string("?");
}

}  // namespace demo
