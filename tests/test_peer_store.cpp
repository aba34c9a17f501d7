// PeerStore: BEP 5's swarms, with expiry and bounds.

#include <catch2/catch.hpp>
#include <set>

#include "helpers.hpp"
#include "kad/peer_store.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{};

Endpoint peer(int i) {
    return Endpoint::v4({10, 1, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i)},
                        6881);
}

}  // namespace

TEST_CASE("PeerStore: an announce adds a peer; again, refreshes it; it expires after its ttl",
          "[peers]") {
    PeerStore s;
    SeededRandom rng(1);
    const NodeId swarm = id_from(1);
    CHECK(s.announce(t0, swarm, peer(1)) == PeerStore::Result::Added);
    CHECK(s.announce(t0, swarm, peer(2)) == PeerStore::Result::Added);
    CHECK(s.has(swarm));
    CHECK(s.swarms() == 1);
    CHECK(s.size() == 2);
    CHECK(s.next_expiry() == t0 + 30min);
    CHECK(s.announce(t0 + 20min, swarm, peer(1)) == PeerStore::Result::Refreshed);
    CHECK(s.size() == 2);
    CHECK(s.expire(t0 + 30min) == 1);  // peer 2; peer 1 announced again
    CHECK(s.peers(swarm, true, true, 10, rng) == std::vector<Endpoint>{peer(1)});
    CHECK(s.expire(t0 + 50min) == 1);
    CHECK_FALSE(s.has(swarm));
    CHECK(s.swarms() == 0);
    CHECK(s.next_expiry() == TimePoint::max());
}

TEST_CASE("PeerStore: answers hold the families asked for, a random sample past the bound",
          "[peers]") {
    PeerStore s;
    SeededRandom rng(2);
    const NodeId swarm = id_from(1);
    for (int i = 0; i < 50; ++i) s.announce(t0, swarm, peer(i));
    s.announce(t0, swarm, ep("[2001:db8::1]:6881"));
    CHECK(s.peers(swarm, true, false, 100, rng).size() == 50);
    CHECK(s.peers(swarm, false, true, 100, rng) == std::vector<Endpoint>{ep("[2001:db8::1]:6881")});
    const auto a = s.peers(swarm, true, false, 10, rng);
    const auto b = s.peers(swarm, true, false, 10, rng);
    CHECK(a.size() == 10);
    CHECK(std::set<Endpoint>(a.begin(), a.end()).size() == 10);  // distinct
    CHECK(a != b);                                               // another sample each time
    CHECK(s.peers(id_from(9), true, true, 10, rng).empty());
}

TEST_CASE("PeerStore: a full swarm drops its oldest announce", "[peers]") {
    PeerStoreConfig c;
    c.max_peers = 3;
    PeerStore s(c);
    SeededRandom rng(3);
    const NodeId swarm = id_from(1);
    s.announce(t0, swarm, peer(1));
    s.announce(t0 + 1min, swarm, peer(2));
    s.announce(t0 + 2min, swarm, peer(3));
    CHECK(s.announce(t0 + 3min, swarm, peer(4)) == PeerStore::Result::Replaced);
    const auto all = s.peers(swarm, true, true, 10, rng);
    CHECK(std::set<Endpoint>(all.begin(), all.end()) ==
          std::set<Endpoint>{peer(2), peer(3), peer(4)});
    CHECK(s.size() == 3);
}

TEST_CASE("PeerStore: a full store drops the smallest swarm, never a crowded one", "[peers]") {
    PeerStoreConfig c;
    c.max_swarms = 3;
    PeerStore s(c);
    const NodeId crowded = id_from(1);
    for (int i = 0; i < 20; ++i) s.announce(t0, crowded, peer(i));
    // One-peer swarms from a flood of info-hashes only displace each other.
    for (int i = 0; i < 100; ++i) s.announce(t0, id_from(100 + i), peer(500));
    CHECK(s.swarms() == 3);
    CHECK(s.has(crowded));
    CHECK(s.size() == 22);
    CHECK(s.has(id_from(199)));  // the latest is there
}

TEST_CASE("PeerStore: one entry per address in a swarm; another port moves it", "[peers]") {
    PeerStoreConfig c;
    c.max_peers = 3;
    PeerStore s(c);
    SeededRandom rng(4);
    const NodeId swarm = id_from(1);
    s.announce(t0, swarm, peer(1));
    s.announce(t0, swarm, peer(2));
    // One host naming port after port holds one entry, and cannot push the others out.
    for (std::uint16_t port = 1; port <= 500; ++port) {
        CHECK(s.announce(t0 + 1min, swarm, ep("10.9.9.9:1").with_port(port)) !=
              PeerStore::Result::Replaced);
    }
    CHECK(s.size() == 3);
    const auto all = s.peers(swarm, true, true, 10, rng);
    CHECK(std::set<Endpoint>(all.begin(), all.end()) ==
          std::set<Endpoint>{peer(1), peer(2), ep("10.9.9.9:500")});
}
