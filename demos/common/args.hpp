// demos/common/args.hpp: a small, strict command-line parser for the demos.
//
// Each option is declared once, bound to the variable that receives it; the
// variable's initial value is the default shown in --help. Accepts
// `--name value` and `--name=value`; rejects unknown options, missing
// values, repeated options, stray arguments, non-numbers and out-of-range
// numbers, each with a message that names the option. Standard library only.
//
//   std::uint16_t port = 0;
//   demo::args cli("echo_server", "Echoes every byte back.");
//   cli.integer("port", "P", port, 0, 65535, "port to listen on; 0 picks a free one");
//   if (auto exit_code = cli.parse(argc, argv)) return *exit_code;
#pragma once

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace demo {

/// The exit code for bad arguments (a usage error), as BSD's EX_USAGE is
/// not portable and scripts already expect 2.
inline constexpr int exit_usage = 2;

class args {
 public:
  /// `program` names the binary in messages; `summary` opens --help.
  args(std::string program, std::string summary);
  // Options point at variables and at our own --help flag: not copyable.
  args(const args&) = delete;
  args& operator=(const args&) = delete;

  /// `--name N`: an integer in [min, max]. With a std::optional target the
  /// option has no default (nullopt until given).
  template <std::integral T>
  args& integer(std::string_view name, std::string_view metavar, T& out, T min, T max,
                std::string_view help) {
    add(name, metavar, help, default_of(out), [&out, min, max](std::string_view v) {
      return parse_integer(v, static_cast<std::int64_t>(min), static_cast<std::int64_t>(max),
                           [&out](std::int64_t x) { out = static_cast<T>(x); });
    });
    return *this;
  }
  template <std::integral T>
  args& integer(std::string_view name, std::string_view metavar, std::optional<T>& out, T min,
                T max, std::string_view help) {
    add(name, metavar, help, "", [&out, min, max](std::string_view v) {
      return parse_integer(v, static_cast<std::int64_t>(min), static_cast<std::int64_t>(max),
                           [&out](std::int64_t x) { out = static_cast<T>(x); });
    });
    return *this;
  }

  /// `--name X`: a finite decimal number in [min, max] ("0.5", "3", "1e-3").
  args& number(std::string_view name, std::string_view metavar, double& out, double min, double max,
               std::string_view help);
  args& number(std::string_view name, std::string_view metavar, std::optional<double>& out,
               double min, double max, std::string_view help);

  /// `--name SECONDS`: a duration in seconds, up to `max`, kept in whole
  /// milliseconds (rounded to the nearest). 0 is allowed when `zero_means`
  /// says what it means ("never"); a value above 0 but under 0.001 is
  /// refused, since it would round to 0 and silently mean that.
  args& seconds(std::string_view name, std::chrono::milliseconds& out, double max,
                std::string_view help, std::string_view zero_means = {});

  /// `--name S`: any non-empty string.
  args& text(std::string_view name, std::string_view metavar, std::string& out,
             std::string_view help);

  /// `--name S`: one of `choices`.
  args& choice(std::string_view name, std::string& out,
               std::initializer_list<std::string_view> choices, std::string_view help);

  /// `--name` alone: sets `out` to true. Takes no value.
  args& flag(std::string_view name, bool& out, std::string_view help);

  /// Makes the option declared last mandatory.
  args& required();

  /// Replaces the default shown in --help for the option declared last
  /// ("one per core" rather than "0").
  args& default_text(std::string_view text);

  /// Parses argv. Returns nullopt to go on, or the code to exit with: 0
  /// after printing --help to stdout; exit_usage after printing the error
  /// and the usage to stderr.
  std::optional<int> parse(int argc, const char* const* argv);

  /// Reports a usage error found after parsing (two options that conflict,
  /// an address that does not parse): prints it like parse() does and
  /// returns exit_usage.
  int fail(std::string_view message) const;

  /// The full --help text.
  std::string help() const;

 private:
  // Returns an error message, or "" on success.
  using setter = std::function<std::string(std::string_view)>;
  struct option {
    std::string name;  // without the leading "--"
    std::string metavar;
    std::string help;
    std::string default_shown;
    setter set;  // empty for a flag
    bool* flag = nullptr;
    bool required = false;
    bool seen = false;
  };

  void add(std::string_view name, std::string_view metavar, std::string_view help,
           std::string default_shown, setter set);
  option* find(std::string_view name);
  std::string usage_line() const;

  static std::string parse_integer(std::string_view v, std::int64_t min, std::int64_t max,
                                   const std::function<void(std::int64_t)>& store);
  static std::string parse_number(std::string_view v, double min, double max,
                                  const std::function<void(double)>& store);
  static std::string format_number(double x);
  static std::string parse_seconds(std::string_view v, double max, bool zero_allowed,
                                   std::chrono::milliseconds& out);

  template <std::integral T>
  static std::string default_of(const T& v) {
    if constexpr (std::same_as<T, bool>) {
      return v ? "true" : "false";
    } else {
      return std::to_string(v);
    }
  }

  std::string program_;
  std::string summary_;
  std::vector<option> options_;
  bool help_ = false;
};

}  // namespace demo
