// BEP 5 swarms on the virtual network: iterative announce and get_peers.

#include <catch2/catch.hpp>
#include <set>

#include "helpers.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

AnnounceResult announce(sim::Network& net, std::size_t from, const NodeId& swarm,
                        std::uint16_t port) {
    std::optional<AnnounceResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.announce(now, swarm, port, [&](const AnnounceResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    return *r;
}

FindPeersResult find_peers(sim::Network& net, std::size_t from, const NodeId& swarm) {
    std::optional<FindPeersResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.find_peers(now, swarm, [&](const FindPeersResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    return *r;
}

}  // namespace

TEST_CASE("BEP 5: peers announced on two nodes are found from a third", "[sim][bep5]") {
    sim::Network net(51, lan());
    REQUIRE(sim::grow(net, 100).size() == 100);
    const NodeId swarm = id_from(4242);

    const auto a = announce(net, 3, swarm, 6881);
    REQUIRE(a.ok);
    CHECK(a.announced == 20);  // the k nearest
    CHECK(a.refused == 0);
    CHECK(a.peers.empty());                     // the first in the swarm
    const auto b = announce(net, 7, swarm, 0);  // implied_port: the port it sends from
    REQUIRE(b.ok);
    REQUIRE(b.peers.size() == 1);
    CHECK(b.peers[0] == net.endpoint(3).with_port(6881));

    const auto found = find_peers(net, 50, swarm);
    REQUIRE(found.ok);
    CHECK(std::set<Endpoint>(found.peers.begin(), found.peers.end()) ==
          std::set<Endpoint>{net.endpoint(3).with_port(6881), net.endpoint(7)});
    CHECK(found.nodes.size() == 20);

    // A swarm nobody announced: an answer, with no peers.
    const auto empty = find_peers(net, 50, id_from(1));
    CHECK(empty.ok);
    CHECK(empty.peers.empty());
}

TEST_CASE("BEP 5: announced peers expire unless announced again", "[sim][bep5]") {
    sim::Network net(52, lan());
    REQUIRE(sim::grow(net, 40).size() == 40);
    const NodeId swarm = id_from(99);
    REQUIRE(announce(net, 3, swarm, 6881).ok);
    net.run_for(20min);
    REQUIRE(announce(net, 4, swarm, 6882).ok);
    net.run_for(15min);  // 35 min for the first, 15 for the second
    const auto found = find_peers(net, 20, swarm);
    REQUIRE(found.ok);
    CHECK(found.peers == std::vector<Endpoint>{net.endpoint(4).with_port(6882)});
}

TEST_CASE("BEP 43: a read-only node announces and finds peers, and no node keeps it as a contact",
          "[sim][bep43]") {
    sim::Network net(53, lan());
    REQUIRE(sim::grow(net, 60).size() == 60);
    NodeConfig read_only;
    read_only.read_only = true;
    const auto joined = sim::grow(net, 1, read_only);
    REQUIRE(joined.size() == 1);
    const std::size_t ro = joined[0];
    const NodeId swarm = id_from(4343);
    const auto a = announce(net, ro, swarm, 6881);
    REQUIRE(a.ok);
    CHECK(a.announced == 20);
    REQUIRE(announce(net, 5, swarm, 6882).ok);
    const auto found = find_peers(net, ro, swarm);
    CHECK(std::set<Endpoint>(found.peers.begin(), found.peers.end()) ==
          std::set<Endpoint>{net.endpoint(ro).with_port(6881), net.endpoint(5).with_port(6882)});
    net.run_for(90min);  // refreshes and verification pings on every side
    CHECK(net.node(ro).routing_table().size() >= 20);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (i != ro && net.node(i).routing_table().find(net.node(ro).id()) != nullptr) ++kept;
    }
    CHECK(kept == 0);
    // Nobody even tried to verify it (an answer to "ro" is not a reason to), and it answered
    // nothing.
    CHECK(net.node(ro).stats().queries_ignored == 0);
    CHECK(net.node(ro).stats().responses_out == 0);
    std::uint64_t read_only_queries = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        read_only_queries += net.node(i).stats().read_only_queries;
    }
    std::uint64_t sent = 0;
    for (const auto n : net.node(ro).stats().queries_out) sent += n;
    // Every one of its queries said "ro" (no loss here); so did every verification ping from a
    // second port (a probe), and nothing else did.
    std::uint64_t probes = 0;
    for (std::size_t i = 0; i < net.size(); ++i) probes += net.node(i).stats().reach_probes;
    CHECK(probes > 0);
    CHECK(read_only_queries == sent + probes);
}
