#pragma once
// BEP 5's peer store: for each info-hash, the peers that announced themselves in its swarm
// (announce_peer), each for `peer_ttl` after its last announce. Bounded: at most `max_swarms`
// info-hashes and `max_peers` peers in each. A full swarm drops the peer whose announce is oldest;
// a full store drops the smallest swarm (a flood of one-peer swarms only displaces its own kind,
// never a swarm many peers announced). Time is passed in.

#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/node_id.hpp"
#include "kad/random.hpp"
#include "kad/time.hpp"

namespace kad {

struct PeerStoreConfig {
    std::size_t max_swarms = 2000;                 // info-hashes held
    std::size_t max_peers = 500;                   // peers in one swarm
    Duration peer_ttl = std::chrono::minutes(30);  // BEP 5 clients re-announce every 15-30 min
};

class PeerStore {
public:
    explicit PeerStore(PeerStoreConfig config = {}) : config_(config) {}

    enum class Result : std::uint8_t {
        Added,      // a new peer
        Refreshed,  // it was there: its life starts again
        Replaced,   // a new peer, for which another peer or swarm was dropped
    };
    Result announce(TimePoint now, const NodeId& info_hash, const Endpoint& peer);

    // Up to `max` peers of the swarm in the families asked for: all of them, or a random sample
    // (each answer a different one, as BEP 5 clients expect).
    std::vector<Endpoint> peers(const NodeId& info_hash, bool v4, bool v6, std::size_t max,
                                RandomSource& rng) const;
    bool has(const NodeId& info_hash) const { return swarms_.count(info_hash) != 0; }

    // Removes every peer whose life is over (and swarms left empty). Returns how many.
    std::size_t expire(TimePoint now);
    TimePoint next_expiry() const noexcept;

    std::size_t swarms() const noexcept { return swarms_.size(); }
    std::size_t size() const noexcept { return by_expiry_.size(); }
    const PeerStoreConfig& config() const noexcept { return config_; }

private:
    using Peers = std::map<Endpoint, TimePoint>;  // peer -> when its announce expires
    void drop(const NodeId& info_hash, const Endpoint& peer);
    void drop_smallest_swarm();
    // Puts the swarm in its place in by_size_ after its size changed from `old_size`.
    void reindex(const NodeId& info_hash, std::size_t old_size);

    PeerStoreConfig config_;
    std::map<NodeId, Peers> swarms_;
    std::set<std::tuple<TimePoint, NodeId, Endpoint>> by_expiry_;
    std::set<std::pair<std::size_t, NodeId>> by_size_;  // swarms, smallest first
};

}  // namespace kad
