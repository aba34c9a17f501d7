#include "kad/listeners.hpp"

#include <algorithm>

namespace kad {

Listeners::Added Listeners::add(const NodeId& target, const Listen& listen, TimePoint now) {
    const krpc::NodeInfo& who = listen.who;
    const auto& known = listen.known;
    const TimePoint expires =
        now + std::min(listen.ttl.value_or(config_.default_ttl), config_.max_ttl);
    auto it = by_target_.find(target);
    if (it != by_target_.end()) {
        for (Listener& l : it->second) {
            if (l.who.endpoint != who.endpoint) continue;
            l.who.id = who.id;
            l.tag = listen.tag;
            l.expires = expires;
            if (known && (!l.told || *known > *l.told)) l.told = known;
            next_expiry_ = std::min(next_expiry_, expires);
            return Added::Renewed;
        }
    }
    expire(now);  // room taken by lapsed listeners is free again
    if (size_ >= config_.max) return Added::Full;
    if (from_source(source_key(who.endpoint)) >= config_.per_source) return Added::SourceFull;
    by_target_[target].push_back({who, listen.tag, expires, known});
    ++size_;
    next_expiry_ = std::min(next_expiry_, expires);
    return Added::New;
}

std::vector<krpc::NodeInfo> Listeners::of(const NodeId& target, TimePoint now) const {
    std::vector<krpc::NodeInfo> out;
    auto it = by_target_.find(target);
    if (it == by_target_.end()) return out;
    for (const Listener& l : it->second) {
        if (l.expires > now) out.push_back(l.who);
    }
    return out;
}

std::vector<Listeners::Told> Listeners::take_newer(const NodeId& target, std::int64_t seq,
                                                   const Endpoint& writer, TimePoint now) {
    std::vector<Told> out;
    auto it = by_target_.find(target);
    if (it == by_target_.end()) return out;
    for (Listener& l : it->second) {
        if (l.expires <= now || (l.told && *l.told >= seq)) continue;
        l.told = seq;
        if (l.who.endpoint != writer) out.push_back({l.who, l.tag});
    }
    return out;
}

bool Listeners::remove(const NodeId& target, const Endpoint& who) {
    auto it = by_target_.find(target);
    if (it == by_target_.end()) return false;
    const std::size_t removed =
        std::erase_if(it->second, [&](const Listener& l) { return l.who.endpoint == who; });
    size_ -= removed;
    if (it->second.empty()) by_target_.erase(it);
    return removed > 0;
}

void Listeners::expire(TimePoint now) {
    if (next_expiry_ > now) return;
    next_expiry_ = TimePoint::max();
    for (auto it = by_target_.begin(); it != by_target_.end();) {
        size_ -= std::erase_if(it->second, [now](const Listener& l) { return l.expires <= now; });
        for (const Listener& l : it->second) next_expiry_ = std::min(next_expiry_, l.expires);
        it = it->second.empty() ? by_target_.erase(it) : std::next(it);
    }
}

std::size_t Listeners::from_source(const Endpoint& source) const {
    std::size_t n = 0;
    for (const auto& [target, list] : by_target_) {
        n += static_cast<std::size_t>(
            std::count_if(list.begin(), list.end(),
                          [&](const Listener& l) { return source_key(l.who.endpoint) == source; }));
    }
    return n;
}

}  // namespace kad
