// LAN discovery on the virtual network: convergence, rate, departures, isolation, floods.

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "helpers.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

// n nodes with discovery and no bootstrap at all.
std::vector<std::size_t> lan_nodes(sim::Network& net, std::size_t n, DiscoveryConfig config = {}) {
    std::vector<std::size_t> out;
    for (std::size_t k = 0; k < n; ++k) {
        const auto i = net.add_node();
        net.enable_discovery(i, config);
        out.push_back(i);
    }
    return out;
}

bool converged(sim::Network& net, const std::vector<std::size_t>& nodes) {
    const std::string f = net.discovery(nodes.front())->fingerprint();
    for (auto i : nodes) {
        if (net.discovery(i)->size() != nodes.size() - 1) return false;
        if (net.discovery(i)->fingerprint() != f) return false;
    }
    return true;
}

bool in_view(sim::Network& net, std::size_t observer, std::size_t peer) {
    for (const auto& p : net.discovery(observer)->peers()) {
        if (p.id == net.node(peer).id()) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("5 nodes on one LAN with no flags find each other within 3 s", "[sim][discovery]") {
    sim::Network net(21, lan(200us, 100us));
    const auto nodes = lan_nodes(net, 5);
    REQUIRE(net.run_until([&] { return converged(net, nodes); }, 3s));
    for (auto i : nodes) {
        // Every announcer answered a ping, so it is in the routing table too.
        CHECK(net.node(i).routing_table().size() == 4);
        CHECK(net.discovery(i)->stats().own >= 1);  // its own messages came back and were ignored
        for (const auto& p : net.discovery(i)->peers()) {
            CHECK(p.endpoint.port() == 6881);
            CHECK(p.rtt);
        }
    }
    // Put on one, get on another, through the routing tables discovery filled.
    std::optional<PutResult> put;
    net.with(nodes[0], [&](Node& n, TimePoint now) {
        n.put(now, "lan", "party", {}, [&](const PutResult& r) { put = r; });
    });
    REQUIRE(net.run_until([&] { return put.has_value(); }, 5s));
    CHECK(put->stored == 4);
    std::optional<GetResult> got;
    net.with(nodes[3], [&](Node& n, TimePoint now) {
        n.get(now, "lan", [&](const GetResult& r) { got = r; });
    });
    REQUIRE(net.run_until([&] { return got.has_value(); }, 5s));
    CHECK(got->ok);
    CHECK(got->item->value == "party");
}

TEST_CASE("a LAN of 200 nodes carries about 10 announcements a second", "[sim][discovery]") {
    sim::Network net(22, lan(200us, 100us));
    const auto nodes = lan_nodes(net, 200);
    REQUIRE(net.run_until([&] { return converged(net, nodes); }, 120s));
    // Let the start-up burst pass, then count over a minute.
    net.run_for(60s);
    std::uint64_t before = 0;
    for (auto i : nodes) before += net.discovery(i)->stats().announcements_out;
    net.run_for(60s);
    std::uint64_t after = 0;
    for (auto i : nodes) after += net.discovery(i)->stats().announcements_out;
    const double rate = static_cast<double>(after - before) / 60.0;
    INFO("announcements per second: " << rate);
    CHECK(rate <= 11.0);
    CHECK(rate >= 8.0);
    CHECK(converged(net, nodes));  // slower announcements still keep everyone in view
}

TEST_CASE("a new node's solicitation is answered, but not by everyone", "[sim][discovery]") {
    sim::Network net(23, lan(200us, 100us));
    auto nodes = lan_nodes(net, 50);
    REQUIRE(net.run_until([&] { return converged(net, nodes); }, 60s));
    std::uint64_t before = 0;
    for (auto i : nodes) before += net.discovery(i)->stats().announcements_out;
    const auto newcomer = net.add_node();
    net.enable_discovery(newcomer);
    net.run_for(1s);
    std::uint64_t after = 0;
    for (auto i : nodes) after += net.discovery(i)->stats().announcements_out;
    // At most reply_suppress answers, plus the odd periodic announcement in that second.
    CHECK(after - before <= DiscoveryConfig{}.reply_suppress + 3);
    CHECK(net.discovery(newcomer)->size() >= 1);
    std::uint64_t suppressed = 0;
    for (auto i : nodes) suppressed += net.discovery(i)->stats().replies_suppressed;
    CHECK(suppressed >= 50 - DiscoveryConfig{}.reply_suppress - 3);
}

TEST_CASE("a clean stop leaves every view at once; a crash within 3 intervals",
          "[sim][discovery]") {
    DiscoveryConfig config;
    config.interval = 1s;
    sim::Network net(24, lan(200us, 100us));
    auto nodes = lan_nodes(net, 3, config);
    REQUIRE(net.run_until([&] { return converged(net, nodes); }, 3s));
    net.run_for(500ms);  // let the verification pings settle: none is in flight at the stop

    net.stop(nodes[1]);
    net.run_for(50ms);
    CHECK_FALSE(in_view(net, nodes[0], nodes[1]));
    // It said it left: the DHT forgets it too, rather than waiting for it to fail.
    CHECK_FALSE(net.node(nodes[0]).routing_table().contains(net.node(nodes[1]).id()));
    CHECK_FALSE(in_view(net, nodes[2], nodes[1]));
    CHECK(net.discovery(nodes[0])->fingerprint() == net.discovery(nodes[2])->fingerprint());

    net.kill(nodes[2]);
    const TimePoint killed = net.now();
    net.run_for(2s);
    CHECK(in_view(net, nodes[0], nodes[2]));  // not yet: silent for 2 intervals
    REQUIRE(net.run_until([&] { return !in_view(net, nodes[0], nodes[2]); }, 5s));
    const Duration gone_after = net.now() - killed;
    CHECK(gone_after <= 3s + 250ms * 3);  // 3 of its intervals, with their jitter
}

TEST_CASE("a peer that the DHT still hears from stays in view", "[sim][discovery]") {
    DiscoveryConfig config;
    config.interval = 1s;
    sim::Network net(25, lan(200us, 100us));
    auto nodes = lan_nodes(net, 2, config);
    REQUIRE(net.run_until([&] { return converged(net, nodes); }, 3s));
    // Node 1 stops announcing (leave() silences it without telling anyone, since the leave is
    // dropped by a partition of the multicast), but keeps answering pings.
    net.set_group(nodes[1], 1);
    net.discovery(nodes[1])->leave(net.now());
    net.run_for(10ms);
    net.heal();
    for (int k = 0; k < 10; ++k) {
        std::optional<PingResult> p;
        net.with(nodes[0], [&](Node& n, TimePoint now) {
            n.ping(now, net.endpoint(nodes[1]), std::nullopt, [&](const PingResult& r) { p = r; });
        });
        REQUIRE(net.run_until([&] { return p.has_value(); }, 2s));
        CHECK(p->ok);
        net.run_for(1s);
    }
    CHECK(in_view(net, nodes[0], nodes[1]));
}

TEST_CASE("other networks and unsigned or wrongly keyed nodes are not admitted",
          "[sim][discovery]") {
    sim::Network net(26, lan(200us, 100us));
    DiscoveryConfig a, b, keyed, other_key;
    a.network = "A";
    b.network = "B";
    keyed.network = "A";
    keyed.key = "the key";
    other_key.network = "A";
    other_key.key = "another key";
    const auto a1 = net.add_node();
    net.enable_discovery(a1, a);
    const auto b1 = net.add_node();
    net.enable_discovery(b1, b);
    const auto k1 = net.add_node();
    net.enable_discovery(k1, keyed);
    const auto k2 = net.add_node();
    net.enable_discovery(k2, keyed);
    const auto x1 = net.add_node();
    net.enable_discovery(x1, other_key);
    net.run_for(5s);

    CHECK(net.discovery(a1)->size() == 0);  // B is another network; keyed nodes are apart
    CHECK(net.discovery(a1)->stats().keyed_dropped > 0);
    CHECK(net.discovery(b1)->size() == 0);
    CHECK(net.discovery(a1)->stats().other_network > 0);
    CHECK(net.discovery(b1)->stats().other_network > 0);
    REQUIRE(net.discovery(k1)->size() == 1);  // only its keyed twin
    CHECK(in_view(net, k1, k2));
    CHECK(net.discovery(k1)->stats().unsigned_dropped > 0);  // from a1
    CHECK(net.discovery(k1)->stats().bad_signature > 0);     // from x1
    CHECK(net.discovery(x1)->size() == 0);
    CHECK(net.node(k1).routing_table().size() == 1);
}

TEST_CASE("a flood of announcements cannot make a node ping without bound", "[sim][discovery]") {
    sim::Network net(27, lan(200us, 100us));
    const auto victim = net.add_node();
    DiscoveryConfig config;
    config.max_pending_pings = 16;
    config.max_peers = 100;
    Discovery& d = net.enable_discovery(victim, config);
    net.run_for(100ms);
    // 10,000 announcements for 10,000 different IDs from one source, all pointing at nobody.
    const Endpoint attacker = ep("10.9.9.9:7475");
    const std::uint64_t pings_before = net.node(victim).stats().queries_out[0];
    for (int i = 0; i < 10000; ++i) {
        Discovery::Message m;
        m.id = id_from(50000 + static_cast<std::uint64_t>(i));
        m.network = "kad";
        m.port = 6881;
        m.interval_ms = 5000;
        d.handle_datagram(net.now(), attacker, Discovery::encode(m, ""));
        // A burst, not spread out: the budget, not time, must hold it.
    }
    std::uint64_t pings = net.node(victim).stats().queries_out[0] - pings_before;
    CHECK(pings == 16);                             // at most 16 at a time
    CHECK(d.stats().pings_skipped == 10000 - 100);  // at most 100 remembered
    // As the pings time out, the queued candidates get theirs, and no more.
    net.run_for(30s);
    pings = net.node(victim).stats().queries_out[0] - pings_before;
    CHECK(pings == 100);
    CHECK(d.size() == 0);
    CHECK(d.stats().malformed == 0);
}
