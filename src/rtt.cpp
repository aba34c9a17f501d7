#include "kad/rtt.hpp"

#include <algorithm>
#include <limits>

namespace kad {

namespace {

std::uint32_t to_us(std::int64_t us) {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, 0xfffffffe));
}

}  // namespace

void RttEstimator::add_sample(Duration rtt) {
    const std::int64_t r = std::chrono::duration_cast<std::chrono::microseconds>(rtt).count();
    if (srtt_us_ == kNone) {
        srtt_us_ = to_us(r);
        rttvar_us_ = to_us(r / 2);
        return;
    }
    const std::int64_t s = srtt_us_;
    const std::int64_t diff = s > r ? s - r : r - s;
    rttvar_us_ = to_us((std::int64_t{rttvar_us_} * 3 + diff) / 4);
    srtt_us_ = to_us((s * 7 + r) / 8);
}

std::optional<Duration> RttEstimator::timeout() const {
    if (srtt_us_ == kNone) return std::nullopt;
    return std::chrono::microseconds(std::int64_t{srtt_us_} + 4 * std::int64_t{rttvar_us_});
}

void RttWindow::add_sample(Duration rtt) {
    const auto units = std::chrono::duration_cast<std::chrono::microseconds>(rtt).count() / kUnitUs;
    units_[count_ % kSize] = static_cast<std::uint16_t>(
        std::clamp<std::int64_t>(units, 0, std::numeric_limits<std::uint16_t>::max()));
    ++count_;
    const auto us =
        static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(rtt).count());
    longest_us_ = std::max(us, longest_us_ - longest_us_ / 1024);
    // Recomputed at the first samples, then every kRecompute: a partial sort of 128 numbers per
    // 16 replies, not per query sent.
    if (count_ > kRecompute && count_ % kRecompute != 0) return;
    const std::size_t n = std::min(count_, kSize);
    std::array<std::uint16_t, kSize> sorted = units_;
    const auto rank = static_cast<std::size_t>(quantile_ * static_cast<double>(n - 1));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank),
                     sorted.begin() + static_cast<std::ptrdiff_t>(n));
    cached_ = std::chrono::microseconds(sorted[rank] * kUnitUs);
}

std::optional<Duration> RttWindow::value() const {
    return cached_;
}

std::optional<Duration> RttWindow::timeout() const {
    if (!cached_ || count_ < kMinSamples) return std::nullopt;
    return *cached_ + *cached_ / 4;
}

std::optional<Duration> RttWindow::longest() const {
    if (count_ == 0) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::int64_t>(longest_us_));
}

}  // namespace kad
