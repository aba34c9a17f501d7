#include "kad/rtt.hpp"

#include <algorithm>
#include <limits>

namespace kad {

void RttEstimator::add_sample(Duration rtt) {
    if (!srtt) {
        srtt = rtt;
        rttvar = rtt / 2;
        return;
    }
    const Duration diff = *srtt > rtt ? *srtt - rtt : rtt - *srtt;
    rttvar = (rttvar * 3 + diff) / 4;
    srtt = (*srtt * 7 + rtt) / 8;
}

std::optional<Duration> RttEstimator::timeout() const {
    if (!srtt) return std::nullopt;
    return *srtt + 4 * rttvar;
}

void RttWindow::add_sample(Duration rtt) {
    const auto units = std::chrono::duration_cast<std::chrono::microseconds>(rtt).count() / kUnitUs;
    units_[count_ % kSize] = static_cast<std::uint16_t>(
        std::clamp<std::int64_t>(units, 0, std::numeric_limits<std::uint16_t>::max()));
    ++count_;
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
    if (!cached_) return std::nullopt;
    return *cached_ + *cached_ / 4;
}

}  // namespace kad
