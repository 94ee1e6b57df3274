// demos/common/histogram.hpp: a fixed-size latency histogram that
// records without allocating.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace demo {

/// Log-linear buckets over nanoseconds, as in HdrHistogram: values below
/// 2^7 ns are exact; above, each power of two is split into 128 equal
/// buckets, so a bucket is at most 1/128 (0.8%) of its values wide and a
/// value read back from its midpoint is within 0.4%. Covers 1 ns to 2^35 ns
/// (34 s); longer values count in the last bucket, and max() stays exact.
/// `Count` is uint32_t per connection (14 KiB) and uint64_t once merged.
template <class Count>
class histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;
  static constexpr int max_exponent = 34;  // the largest value is below 2^35
  static constexpr std::size_t bucket_count = (max_exponent - sub_bits + 2) * sub_count;
  static constexpr std::uint64_t largest = (std::uint64_t{1} << (max_exponent + 1)) - 1;

  void record(std::uint64_t ns) noexcept {
    ++counts_[index_of(std::min(ns, largest))];
    ++total_;
    max_ = std::max(max_, ns);
  }

  template <class C>
  void merge(const histogram<C>& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  /// The value below which a fraction `q` (0..1) of the recorded values lie,
  /// in nanoseconds; 0 when nothing was recorded.
  double quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(midpoint(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }

 private:
  template <class>
  friend class histogram;

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < sub_count) return static_cast<std::size_t>(v);
    const int e = static_cast<int>(std::bit_width(v)) - 1;  // sub_bits .. max_exponent
    const std::uint64_t m = (v >> (e - sub_bits)) - sub_count;
    return static_cast<std::size_t>((e - sub_bits + 1) * sub_count + m);
  }

  static double midpoint(std::size_t i) noexcept {
    const std::uint64_t group = i / sub_count;
    if (group == 0) return static_cast<double>(i);
    const std::uint64_t width = std::uint64_t{1} << (group - 1);
    const std::uint64_t low = (sub_count + i % sub_count) * width;
    return static_cast<double>(low) + static_cast<double>(width - 1) / 2;
  }

  std::array<Count, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace demo
