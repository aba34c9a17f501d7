#pragma once
// BEP 5's peer store: for each info-hash, the peers that announced themselves in its swarm
// (announce_peer), each for `peer_ttl` after its last announce. One entry per IP address in a
// swarm: an address announcing another port moves its entry (as libtorrent does), so one host
// cannot fill a swarm by naming many ports. Bounded: at most `max_swarms` info-hashes and
// `max_peers` addresses in each. A full swarm drops the announce that is oldest; a full store
// drops the smallest swarm (a flood of one-address swarms only displaces its own kind, never a
// swarm that many addresses announced). Time is passed in.

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
    std::size_t max_swarms = 2000;                 // info-hashes held (at least 1)
    std::size_t max_peers = 500;                   // addresses in one swarm (at least 1)
    Duration peer_ttl = std::chrono::minutes(30);  // BEP 5 clients re-announce every 15-30 min
};

class PeerStore {
public:
    explicit PeerStore(PeerStoreConfig config = {}) : config_(config) {}

    enum class Result : std::uint8_t {
        Added,      // a new address in the swarm
        Refreshed,  // the address was there: its life starts again, at the port now announced
        Replaced,   // a new address, for which another address or swarm was dropped
    };
    Result announce(TimePoint now, const NodeId& info_hash, const Endpoint& peer);

    // Up to `max` peers of the swarm in the families asked for: all of them, or a random sample
    // (each answer a different one, as BEP 5 clients expect).
    std::vector<Endpoint> peers(const NodeId& info_hash, bool v4, bool v6, std::size_t max,
                                RandomSource& rng) const;
    bool has(const NodeId& info_hash) const { return swarms_.count(info_hash) != 0; }
    // Up to `max` of the info-hashes held, a uniform random sample (BEP 51).
    std::vector<NodeId> sample_swarms(std::size_t max, RandomSource& rng) const;

    // Removes every peer whose life is over (and swarms left empty). Returns how many.
    std::size_t expire(TimePoint now);
    TimePoint next_expiry() const noexcept;

    std::size_t swarms() const noexcept { return swarms_.size(); }
    std::size_t size() const noexcept { return by_expiry_.size(); }
    const PeerStoreConfig& config() const noexcept { return config_; }

private:
    struct Peer {
        Endpoint endpoint;  // the address and the port last announced
        TimePoint expires;
    };
    using Peers = std::map<Endpoint, Peer>;  // by address (the port zeroed)
    static Endpoint address_of(const Endpoint& e) { return e.with_port(0); }
    void drop(const NodeId& info_hash, const Endpoint& address);
    void drop_smallest_swarm();
    // Puts the swarm in its place in by_size_ after its size changed from `old_size`.
    void reindex(const NodeId& info_hash, std::size_t old_size);

    PeerStoreConfig config_;
    std::map<NodeId, Peers> swarms_;
    std::set<std::tuple<TimePoint, NodeId, Endpoint>> by_expiry_;  // (expiry, swarm, address)
    std::set<std::pair<std::size_t, NodeId>> by_size_;             // swarms, smallest first
};

}  // namespace kad
