// How a node joins: the lookup of its own ID, the refreshes after it, and what each costs.

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>

#include "helpers.hpp"
#include "kad/krpc.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

// The find_node queries node `who` sends, as (destination, target).
struct FindNodes {
    std::vector<std::pair<Endpoint, NodeId>> sent;
};

std::shared_ptr<FindNodes> watch_find_nodes(sim::Network& net, std::size_t who) {
    auto seen = std::make_shared<FindNodes>();
    net.set_tap([seen, who](std::size_t from, const Endpoint& to, std::string_view data) {
        if (from != who) return;
        auto m = krpc::decode(data);
        if (!m) return;
        const auto* q = std::get_if<krpc::Query>(&m->body);
        if (!q) return;
        if (const auto* a = std::get_if<krpc::FindNodeArgs>(&q->args)) {
            seen->sent.emplace_back(to, a->target);
        }
    });
    return seen;
}

// A new node joins through `via`, its find_node queries recorded.
struct Joiner {
    std::size_t who;
    std::shared_ptr<FindNodes> seen;
};

Joiner join_watched(sim::Network& net, std::size_t via) {
    const std::size_t who = net.add_node();
    auto seen = watch_find_nodes(net, who);
    const auto joined = bootstrap(net, who, via, 30s);
    REQUIRE(joined);
    REQUIRE(joined->ok);
    return {who, seen};
}

}  // namespace

TEST_CASE(
    "a join refreshes the ranges out to its k-th nearest node's, not those nearer, which the "
    "lookup of its own ID has found whole",
    "[sim][join]") {
    sim::Network net(31, lan(5ms, 0us));
    REQUIRE(sim::grow(net, 400).size() == 400);
    net.run_for(10s);
    const auto [who, seen] = join_watched(net, 0);

    const NodeId self = net.node(who).id();
    // The k-th nearest node to it: every node nearer shares more of its ID than this one.
    std::vector<NodeId> ids;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (i != who) ids.push_back(net.node(i).id());
    }
    std::sort(ids.begin(), ids.end(), CloserTo{self});
    const int kth = common_prefix_length(self, ids[19]);
    const int nearest = common_prefix_length(self, ids[0]);
    REQUIRE(nearest > kth + 1);  // ranges the old rule refreshed, and this one does not

    std::set<int> refreshed;
    for (const auto& [to, target] : seen->sent) {
        if (target != self) refreshed.insert(common_prefix_length(self, target));
    }
    std::set<int> expected;
    for (int i = 0; i <= kth; ++i) expected.insert(i);
    CHECK(refreshed == expected);
    // What it left out, it knows: every node nearer than its k-th is in its table.
    for (std::size_t j = 0; j < 19; ++j) {
        CHECK(net.node(who).routing_table().contains(ids[j]));
    }
}

TEST_CASE("a join's refreshes ask a silent node once; the lookup of its own ID asks it again",
          "[sim][join]") {
    sim::Network net(32, lan(5ms, 0us));
    REQUIRE(sim::grow(net, 400).size() == 400);
    net.run_for(10s);
    // A fifth of the nodes fall silent, still in the others' tables.
    for (std::size_t i = 1; i < net.size(); ++i) {
        if (i % 5 == 0) net.kill(i);
    }
    const auto [who, seen] = join_watched(net, 1);

    const NodeId self = net.node(who).id();
    std::map<std::pair<Endpoint, NodeId>, int> asked;
    for (const auto& q : seen->sent) ++asked[q];
    std::size_t refresh_queries = 0, self_retried = 0;
    for (const auto& [q, times] : asked) {
        if (q.second == self) {
            if (times > 1) ++self_retried;
            continue;
        }
        refresh_queries += static_cast<std::size_t>(times);
        INFO("refresh target " << q.second.to_hex() << " to " << q.first.to_string());
        CHECK(times == 1);
    }
    CHECK(refresh_queries > 0);
    // The lookup of its own ID still gives a silent node among the k nearest its attempts.
    CHECK(self_retried > 0);
}

TEST_CASE(
    "a node that has just joined waits for several round trips before it trusts their "
    "quantile: a near bootstrap node does not make every farther one time out",
    "[sim][join]") {
    // Every path 100 ms round trip, but node 0's: 2 ms.
    sim::Network net(33, lan(50ms, 0us));
    net.set_path_delay([](std::size_t from, std::size_t to) -> Duration {
        return from == 0 || to == 0 ? 1ms : 50ms;
    });
    REQUIRE(sim::grow(net, 200).size() == 200);
    net.run_for(10s);
    const std::size_t who = net.add_node();
    const auto joined = bootstrap(net, who, 0, 30s);
    REQUIRE(joined);
    REQUIRE(joined->ok);
    // Its first round trips are node 0's 2 ms: a timeout from them would fire before any
    // 100 ms answer came.
    CHECK(net.node(who).stats().soft_timeouts == 0);
}
