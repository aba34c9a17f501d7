#include "kad/peer_store.hpp"

#include <algorithm>

namespace kad {

void PeerStore::reindex(const NodeId& info_hash, std::size_t old_size) {
    if (old_size > 0) by_size_.erase({old_size, info_hash});
    auto s = swarms_.find(info_hash);
    if (s != swarms_.end() && !s->second.empty()) by_size_.insert({s->second.size(), info_hash});
}

void PeerStore::drop(const NodeId& info_hash, const Endpoint& address) {
    auto s = swarms_.find(info_hash);
    if (s == swarms_.end()) return;
    auto p = s->second.find(address);
    if (p == s->second.end()) return;
    by_expiry_.erase({p->second.expires, info_hash, address});
    const std::size_t before = s->second.size();
    s->second.erase(p);
    if (s->second.empty()) swarms_.erase(s);
    reindex(info_hash, before);
}

void PeerStore::drop_smallest_swarm() {
    if (by_size_.empty()) return;
    const NodeId victim = by_size_.begin()->second;
    std::vector<Endpoint> addresses;
    for (const auto& [address, peer] : swarms_.at(victim)) addresses.push_back(address);
    for (const Endpoint& a : addresses) drop(victim, a);
}

PeerStore::Result PeerStore::announce(TimePoint now, const NodeId& info_hash,
                                      const Endpoint& peer) {
    const Endpoint address = address_of(peer);
    const TimePoint expires = now + config_.peer_ttl;
    auto s = swarms_.find(info_hash);
    if (s != swarms_.end()) {
        if (auto p = s->second.find(address); p != s->second.end()) {
            by_expiry_.erase({p->second.expires, info_hash, address});
            p->second = Peer{peer, expires};
            by_expiry_.insert({expires, info_hash, address});
            return Result::Refreshed;
        }
    }
    Result result = Result::Added;
    if (s == swarms_.end() && swarms_.size() >= config_.max_swarms) {
        drop_smallest_swarm();
        result = Result::Replaced;
    } else if (s != swarms_.end() && s->second.size() >= config_.max_peers) {
        // The address whose announce is oldest expires first: it goes.
        auto oldest = std::min_element(
            s->second.begin(), s->second.end(),
            [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
        drop(info_hash, Endpoint(oldest->first));
        result = Result::Replaced;
    }
    Peers& peers = swarms_[info_hash];
    const std::size_t before = peers.size();
    peers.emplace(address, Peer{peer, expires});
    reindex(info_hash, before);
    by_expiry_.insert({expires, info_hash, address});
    return result;
}

namespace {

// Keeps a uniform random sample of `max` of `v` (all of it if it is no larger): a partial
// Fisher-Yates shuffle.
template <class T>
void sample_in_place(std::vector<T>& v, std::size_t max, RandomSource& rng) {
    if (v.size() <= max) return;
    for (std::size_t i = 0; i < max; ++i) {
        const std::size_t j = i + static_cast<std::size_t>(rng.uniform(v.size() - i));
        std::swap(v[i], v[j]);
    }
    v.resize(max);
}

}  // namespace

std::vector<Endpoint> PeerStore::peers(const NodeId& info_hash, bool v4, bool v6, std::size_t max,
                                       RandomSource& rng) const {
    std::vector<Endpoint> out;
    auto s = swarms_.find(info_hash);
    if (s == swarms_.end()) return out;
    for (const auto& [address, peer] : s->second) {
        if (address.is_v4() ? v4 : v6) out.push_back(peer.endpoint);
    }
    sample_in_place(out, max, rng);
    return out;
}

std::vector<NodeId> PeerStore::sample_swarms(std::size_t max, RandomSource& rng) const {
    std::vector<NodeId> out;
    out.reserve(swarms_.size());
    for (const auto& [info_hash, peers] : swarms_) out.push_back(info_hash);
    sample_in_place(out, max, rng);
    return out;
}

std::size_t PeerStore::expire(TimePoint now) {
    std::size_t removed = 0;
    while (!by_expiry_.empty() && std::get<0>(*by_expiry_.begin()) <= now) {
        const auto [when, info_hash, address] = *by_expiry_.begin();
        drop(info_hash, address);
        ++removed;
    }
    return removed;
}

TimePoint PeerStore::next_expiry() const noexcept {
    return by_expiry_.empty() ? TimePoint::max() : std::get<0>(*by_expiry_.begin());
}

}  // namespace kad
