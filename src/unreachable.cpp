#include "kad/unreachable.hpp"

#include <algorithm>
#include <functional>

namespace kad {

namespace {

std::uint32_t endpoint_hash(const Endpoint& ep) {
    return static_cast<std::uint32_t>(std::hash<Endpoint>{}(ep));
}

std::uint32_t whole_seconds(TimePoint t) {
    return static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

}  // namespace

void UnreachableEndpoints::note(const Endpoint& ep, TimePoint until) {
    const Entry e{endpoint_hash(ep), whole_seconds(until)};
    if (ring_.size() < kSize) {
        ring_.push_back(e);
        return;
    }
    ring_[next_] = e;
    next_ = (next_ + 1) % kSize;
}

bool UnreachableEndpoints::contains(const Endpoint& ep, TimePoint now) const {
    const std::uint32_t h = endpoint_hash(ep);
    const std::uint32_t t = whole_seconds(now);
    return std::any_of(ring_.begin(), ring_.end(),
                       [&](const Entry& e) { return e.hash == h && e.until_s > t; });
}

}  // namespace kad
