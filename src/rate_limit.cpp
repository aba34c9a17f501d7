#include "kad/rate_limit.hpp"

#include <algorithm>

namespace kad {

namespace {

bool is_local(const Endpoint& e) {
    return e.is_loopback() || e.is_private();
}

}  // namespace

void RateLimiter::refill(Bucket& b, TimePoint now, double rate, double burst) const {
    if (now <= b.updated) return;
    const double seconds = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst, b.tokens + seconds * rate);
    b.debt = std::max(0.0, b.debt - seconds * rate);
    b.updated = now;
}

void RateLimiter::sweep(TimePoint now) {
    // Forget sources that are back to a full bucket: they would start from a full bucket anyway;
    // and ignored sources whose time is up. At most once a second, so even a full table costs
    // little.
    if (now - last_sweep_ < std::chrono::seconds(1) && last_sweep_ != TimePoint{}) return;
    last_sweep_ = now;
    for (auto it = sources_.begin(); it != sources_.end();) {
        Bucket& b = it->second;
        const bool local = is_local(it->first);
        refill(b, now, local ? config_.local_rate : config_.rate,
               local ? config_.local_burst : config_.burst);
        const double burst = local ? config_.local_burst : config_.burst;
        if (b.tokens >= burst && b.debt == 0) {
            it = sources_.erase(it);
        } else {
            ++it;
        }
    }
    std::erase_if(ignored_, [&](const auto& e) { return e.second <= now; });
}

RateLimiter::Bucket* RateLimiter::bucket_for(TimePoint now, const Endpoint& key, bool local) {
    if (auto it = sources_.find(key); it != sources_.end()) return &it->second;
    if (sources() >= config_.max_sources) {
        ++stats_.sources_full;  // swept within the last second, and still full
        return nullptr;
    }
    Bucket b;
    b.tokens = local ? config_.local_burst : config_.burst;
    b.updated = now;
    return &sources_.emplace(key, b).first->second;
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
    // Forget quiet sources once a second, so the table holds the sources of the last second or
    // so, not every address ever heard from (a node in a large network hears from thousands).
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
    const bool local = is_local(key);
    const double rate = local ? config_.local_rate : config_.rate;
    const double burst = local ? config_.local_burst : config_.burst;
    if (Bucket* b = bucket_for(now, key, local)) {
        refill(*b, now, rate, burst);
        if (b->tokens < 1) {
            ++stats_.dropped_source;
            b->debt += 1;
            if (b->debt > burst) {
                // Ignored for a while; it starts again from a full bucket after.
                ignored_[key] = now + config_.ignore_for;
                sources_.erase(key);
                ++stats_.sources_ignored;
            }
            return Verdict::DropSource;
        }
        b->tokens -= 1;
    }
    if (!global_started_) {
        global_.tokens = config_.global_burst;
        global_.updated = now;
        global_started_ = true;
    }
    refill(global_, now, config_.global_rate, config_.global_burst);
    if (global_.tokens < 1) {
        if (trusted) return Verdict::Allow;
        ++stats_.dropped_global;
        return Verdict::DropGlobal;
    }
    global_.tokens -= 1;
    return Verdict::Allow;
}

}  // namespace kad
