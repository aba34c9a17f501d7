#pragma once
// Round-trip time estimation as RFC 6298 §2: a smoothed RTT and its variation, moved by each
// sample without jumping on one slow reply. One type serves the node as a whole (the soft timeout
// of a query to a node we have no samples for) and each routing-table contact.

#include <array>
#include <cstdint>
#include <optional>

#include "kad/time.hpp"

namespace kad {

struct RttEstimator {
    // None before the first sample.
    std::optional<Duration> srtt() const noexcept {
        if (srtt_us_ == kNone) return std::nullopt;
        return std::chrono::microseconds(srtt_us_);
    }
    Duration rttvar() const noexcept { return std::chrono::microseconds(rttvar_us_); }

    void add_sample(Duration rtt);
    // srtt + 4 x rttvar (RFC 6298's RTO, without its floor and ceiling), once sampled.
    std::optional<Duration> timeout() const;
    void reset() noexcept {
        srtt_us_ = kNone;
        rttvar_us_ = 0;
    }

private:
    // Whole microseconds, up to 71 minutes, in 8 bytes where an optional Duration and a Duration
    // take 24: every routing-table contact holds one (docs/BENCHMARKS.md, "Memory per node").
    static constexpr std::uint32_t kNone = 0xffffffff;
    std::uint32_t srtt_us_ = kNone;
    std::uint32_t rttvar_us_ = 0;
};

// A quantile of the last round trips to anyone: the soft timeout of a query to a node we have no
// samples for. On the Internet the round trip depends on the pair, not on the asker, so a
// smoothed mean plus four deviations (RttEstimator) of everyone's replies is pulled far out by
// the few slow paths (a 150 ms median with a 1 s tail gives over a second). A quantile says what
// share of live nodes would answer in time, whatever the shape of the distribution: past it, a
// silent node is more likely dead or behind NAT than slow, and a slow one still counts when its
// answer comes. The timeout is a quarter more than the quantile: where the round trips are
// alike (one region, a LAN) the slowest tenth of live nodes would otherwise all time out.
class RttWindow {
public:
    static constexpr std::size_t kSize = 128;      // the samples kept
    static constexpr std::size_t kRecompute = 16;  // the quantile is recomputed every so many
    // Kept in units of 100 us, up to 6.5 s (past any soft timeout): 256 bytes a node.
    static constexpr std::int64_t kUnitUs = 100;
    // timeout() waits for this many samples: the 90th percentile of two or three round trips is
    // the smallest of them, and a node that has just joined has only its bootstrap node's.
    static constexpr std::size_t kMinSamples = 8;

    explicit RttWindow(double quantile = 0.9) : quantile_(quantile) {}
    void add_sample(Duration rtt);
    // The quantile of the kept samples; none before the first.
    std::optional<Duration> value() const;
    // value() and a quarter; none before kMinSamples samples (the caller's initial timeout
    // holds until then).
    std::optional<Duration> timeout() const;
    // The longest recent round trip, with a longer memory than the window's: the longest sample,
    // decaying by 1/1024 with each later one (to 1/e in about a thousand replies), so that a tail
    // of a few slow hosts in a hundred shows. None before the first sample.
    std::optional<Duration> longest() const;

private:
    double quantile_;
    std::array<std::uint16_t, kSize> units_{};  // a ring
    std::size_t count_ = 0;                     // samples ever added
    std::optional<Duration> cached_;
    double longest_us_ = 0;  // longest()
};

// How often a query past its soft timeout is answered after all: whether silence there is
// slowness, or death and loss. On the Internet, where the soft timeout is a quantile of round
// trips that vary by pair, most such queries are answered late (three in four on kadsim's
// mainline preset): a silent node may be a slow host. On a LAN, where the soft timeout's floor
// is many times every round trip, nearly none are: a late answer now and then (a busy host, a
// Wi-Fi retransmission) beside a dead node's queries, which all go unanswered. In the share each
// ending fades by 1/256 with each later one.
class LateAnswers {
public:
    static constexpr double kFade = 1.0 / 256;

    // A query whose soft timeout had passed ended: answered, or failed at its hard timeout.
    void add(bool answered) noexcept {
        answered_ = answered_ * (1 - kFade) + (answered ? 1 : 0);
        ended_ = ended_ * (1 - kFade) + 1;
        if (endings_ < UINT32_MAX) ++endings_;
    }
    // The endings ever counted, and the (faded) share of them answered; 0 before any.
    std::uint32_t endings() const noexcept { return endings_; }
    double share() const noexcept { return ended_ > 0 ? answered_ / ended_ : 0; }

private:
    double answered_ = 0;
    double ended_ = 0;
    std::uint32_t endings_ = 0;
};

}  // namespace kad
