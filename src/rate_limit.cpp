#include "kad/rate_limit.hpp"

#include <algorithm>
#include <cmath>

#include "kad/random.hpp"

namespace kad {

namespace {

bool is_local(const Endpoint& e) {
    return e.is_loopback() || e.is_private();
}

// Long past: a bucket that is full, with no debt.
constexpr TimePoint kLongAgo = TimePoint::min() + Duration(1);

// 1 / rate, to the nanosecond, at least 1 ns and at most about a year, so that adding a burst of
// them to a time cannot overflow. Rates and bursts are positive and finite (config_error).
Duration interval_of(double rate) {
    const double ns = std::clamp(1e9 / rate, 1.0, 3.2e16);
    return Duration(static_cast<Duration::rep>(std::llround(ns)));
}

// n intervals: whole multiples of the rounded interval, so that a burst of n is exact whatever
// the rate (only the rate over a long time carries the rounding).
Duration times(double n, Duration interval) {
    const double ns = std::clamp(n * static_cast<double>(interval.count()), 0.0, 3.2e16);
    return Duration(static_cast<Duration::rep>(std::llround(ns)));
}

}  // namespace

RateLimiter::RateLimiter(RateLimitConfig config, std::uint64_t seed)
    : config_(config), seed_(seed) {
    const auto pace = [](double rate, double burst) {
        const Duration interval = interval_of(rate);
        return Pace{interval, times(burst - 1, interval), times(burst, interval)};
    };
    public_ = pace(config_.rate, config_.burst);
    local_ = pace(config_.local_rate, config_.local_burst);
    global_pace_ = pace(config_.global_rate, config_.global_burst);
}

std::size_t RateLimiter::home(const Endpoint& key) const noexcept {
    return static_cast<std::size_t>(mix64(std::hash<Endpoint>{}(key) ^ seed_)) &
           (slots_.size() - 1);
}

std::size_t RateLimiter::capacity_for(std::size_t sources) const noexcept {
    // At most half full after a rebuild and three quarters before the next one, so a probe is
    // short and a rebuild (which walks the table) comes once per a quarter of it in new sources.
    if (sources == 0) return 0;
    std::size_t capacity = 8;
    while (capacity < 2 * sources) capacity *= 2;
    return capacity;
}

void RateLimiter::rebuild(TimePoint now, std::size_t extra) {
    // Drops the idle sources (a full bucket, no debt: the same as a source never seen) and sizes
    // the table for the rest and `extra` more. A quiet node keeps no table at all.
    std::size_t live = 0;
    for (const Slot& s : slots_) {
        if (s.full_at != kEmpty && !s.idle(now)) ++live;
    }
    const std::size_t capacity = capacity_for(live + extra);
    if (live == used_ && capacity == slots_.size()) return;
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    used_ = live;
    for (const Slot& s : old) {
        if (s.full_at == kEmpty || s.idle(now)) continue;
        std::size_t i = home(s.key);
        while (slots_[i].full_at != kEmpty) i = (i + 1) & (slots_.size() - 1);
        slots_[i] = s;
    }
}

void RateLimiter::sweep(TimePoint now) {
    // Idle sources give their slots to new ones as they come; once a second the table is rebuilt
    // without them, and shrinks when the traffic has gone down, and ignored sources whose time
    // is up are forgotten.
    if (now - last_sweep_ < std::chrono::seconds(1) && last_sweep_ != TimePoint{}) return;
    last_sweep_ = now;
    rebuild(now, 0);
    std::erase_if(ignored_, [&](const auto& e) { return e.second <= now; });
}

RateLimiter::Slot* RateLimiter::slot_for(TimePoint now, const Endpoint& key) {
    Slot* reuse = nullptr;
    if (!slots_.empty()) {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = home(key);; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.full_at == kEmpty) break;
            if (s.key == key) return &s;
            if (reuse == nullptr && s.idle(now)) reuse = &s;
        }
    }
    if (reuse == nullptr) {
        if (sources() >= config_.max_sources) {
            ++stats_.sources_full;  // swept within the last second, and still full
            return nullptr;
        }
        if (slots_.empty() || (used_ + 1) * 4 > slots_.size() * 3) rebuild(now, 1);
        std::size_t i = home(key);
        while (slots_[i].full_at != kEmpty) i = (i + 1) & (slots_.size() - 1);
        reuse = &slots_[i];
        ++used_;
    }
    *reuse = Slot{key, kLongAgo, kLongAgo};
    return reuse;
}

void RateLimiter::erase(Slot& slot) {
    // Backward-shift deletion: the entries after it in its run move up to where a probe from
    // their home finds them, so no tombstone is left behind.
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = static_cast<std::size_t>(&slot - slots_.data());
    for (std::size_t i = (hole + 1) & mask; slots_[i].full_at != kEmpty; i = (i + 1) & mask) {
        // It may move to the hole if its home is not in (hole, i], cyclically.
        if (((i - home(slots_[i].key)) & mask) >= ((i - hole) & mask)) {
            slots_[hole] = slots_[i];
            hole = i;
        }
    }
    slots_[hole] = Slot{};
    --used_;
}

bool RateLimiter::ignored(TimePoint now, const Endpoint& from) {
    if (!config_.enabled || ignored_.empty()) return false;
    auto it = ignored_.find(source_key(from));
    if (it == ignored_.end() || it->second <= now) return false;
    ++stats_.dropped_ignored;
    return true;
}

RateLimiter::Verdict RateLimiter::charge(TimePoint now, const Endpoint& from, bool trusted) {
    if (!config_.enabled) return Verdict::Allow;
    sweep(now);
    const Endpoint key = source_key(from);
    if (!ignored_.empty()) {
        if (auto it = ignored_.find(key); it != ignored_.end()) {
            if (it->second > now) {
                ++stats_.dropped_ignored;
                return Verdict::DropIgnored;
            }
            ignored_.erase(it);  // its time is up: a fresh start
        }
    }
    const Pace& pace = is_local(key) ? local_ : public_;
    if (Slot* s = slot_for(now, key)) {
        const TimePoint full_at = std::max(s->full_at, now);  // a full bucket: now
        if (full_at - now > pace.tolerance) {                 // less than one token left
            ++stats_.dropped_source;
            s->debt_until = std::max(s->debt_until, now) + pace.interval;
            if (s->debt_until - now > pace.ignore_at) {
                // Ignored for a while; it starts again from a full bucket after.
                ignored_[key] = now + config_.ignore_for;
                erase(*s);
                ++stats_.sources_ignored;
            }
            return Verdict::DropSource;
        }
        s->full_at = full_at + pace.interval;
    }
    const TimePoint global_full_at = std::max(global_full_at_, now);
    if (global_full_at - now > global_pace_.tolerance) {
        if (trusted) return Verdict::Allow;
        ++stats_.dropped_global;
        return Verdict::DropGlobal;
    }
    global_full_at_ = global_full_at + global_pace_.interval;
    return Verdict::Allow;
}

}  // namespace kad
