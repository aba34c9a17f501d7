// BEP 42 on the virtual network: nodes on public addresses whose IDs nobody chose take IDs that
// match them, all at about the same time, and the network keeps working through the change.

#include <catch2/catch.hpp>

#include "kad/bep42.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

// One node per public /24: 20.x.y.1.
Endpoint public_address(std::size_t i) {
    return Endpoint::v4({20, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1},
                        6881);
}

// n nodes at public addresses, joined through the first; with `conforming`, each has an ID that
// matches its address from the start.
std::vector<std::size_t> public_network(sim::Network& net, std::size_t n, const NodeConfig& config,
                                        bool conforming = false) {
    for (std::size_t i = 0; i < n; ++i) {
        std::optional<NodeId> id;
        if (conforming) id = bep42::make_id(public_address(i), net.rng());
        net.add_node(config, id, public_address(i));
    }
    std::size_t joined = 0;
    for (std::size_t i = 1; i < n; ++i) {
        net.with(i, [&](Node& node, TimePoint now) {
            node.bootstrap(now, {{public_address(0), std::nullopt}},
                           [&](const BootstrapResult& r) { joined += r.ok ? 1 : 0; });
        });
        net.run_for(5ms);
    }
    REQUIRE(net.run_until([&] { return joined == n - 1; }, 2min));
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i) all[i] = i;
    return all;
}

std::size_t conforming(sim::Network& net) {
    std::size_t c = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        c += bep42::classify(net.node(i).id(), net.endpoint(i)) == bep42::IdClass::Conforming;
    }
    return c;
}

bool put(sim::Network& net, std::size_t from, const std::string& key, const std::string& value) {
    std::optional<PutResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.put(now, key, value, {}, [&](const PutResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    return r->ok;
}

std::optional<std::string> get(sim::Network& net, std::size_t from, const std::string& key) {
    std::optional<GetResult> r;
    net.with(from,
             [&](Node& n, TimePoint now) { n.get(now, key, [&](const GetResult& x) { r = x; }); });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    if (!r->ok || !r->item) return std::nullopt;
    return r->item->value;
}

}  // namespace

TEST_CASE(
    "sim: on public addresses every drawn ID is replaced by one that matches, and values "
    "put before and after are all found",
    "[sim][bep42]") {
    sim::Network net(4242, lan(5ms, 2ms));
    NodeConfig config;
    config.derive_id = true;
    const auto nodes = public_network(net, 60, config);
    // Values put while the IDs may still be moving.
    for (int i = 0; i < 10; ++i) {
        REQUIRE(put(net, static_cast<std::size_t>(i) * 5, "early" + std::to_string(i), "v"));
    }
    net.run_for(10min);
    CHECK(conforming(net) == net.size());
    std::uint64_t changes = 0;
    std::size_t contacts = 0, stale = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        INFO("node " << i);
        const Node& n = net.node(i);
        changes += n.stats().id_changes;
        CHECK(n.routing_table().self() == n.id());
        REQUIRE(n.external_address());
        CHECK(n.external_address()->address_string() == net.endpoint(i).address_string());
        CHECK(n.routing_table().size() > 10);
        contacts += n.routing_table().size();
        stale += n.routing_table().id_census().nonconforming;
    }
    CHECK(changes == net.size());  // once each
    // Nearly every contact already holds the new IDs (a node that changed pinged its contacts,
    // and its queries made the others check); the rest are put right when next asked.
    CHECK(stale * 100 <= contacts);
    for (std::size_t i = 0; i < net.size(); ++i) {
        net.with(i, [](Node& n, TimePoint now) {
            for (const Contact* c : n.routing_table().all()) {
                n.ping(now, c->endpoint, c->id, [](const PingResult&) {});
            }
        });
    }
    net.run_for(10s);
    for (std::size_t i = 0; i < net.size(); ++i) {
        INFO("node " << i);
        CHECK(net.node(i).routing_table().id_census().nonconforming == 0);
    }
    for (int i = 0; i < 10; ++i) {
        REQUIRE(put(net, static_cast<std::size_t>(i) * 3 + 1, "late" + std::to_string(i), "w"));
    }
    for (int i = 0; i < 10; ++i) {
        INFO("key " << i);
        CHECK(get(net, 59 - static_cast<std::size_t>(i), "early" + std::to_string(i)) == "v");
        CHECK(get(net, 58 - static_cast<std::size_t>(i) * 2, "late" + std::to_string(i)) == "w");
    }
    (void)nodes;
}

TEST_CASE(
    "sim: with IdPolicy::Require, nodes whose IDs were chosen are kept out, and the "
    "conforming part of the network works on its own",
    "[sim][bep42]") {
    sim::Network net(4243, lan(5ms, 2ms));
    NodeConfig require;
    require.routing.id_policy = IdPolicy::Require;
    const auto nodes = public_network(net, 40, require, true);
    REQUIRE(conforming(net) == net.size());
    // Sybils with IDs they chose, all near one target, at public addresses.
    const NodeId target = NodeId::from_key("eclipsed");
    NodeConfig chosen;
    std::vector<std::size_t> sybils;
    for (std::size_t i = 0; i < 10; ++i) {
        sybils.push_back(net.add_node(chosen, NodeId::random_with_prefix(target, 40, net.rng()),
                                      public_address(1000 + i)));
        std::size_t s = sybils.back();
        net.with(s, [&](Node& n, TimePoint now) {
            n.bootstrap(now, {{public_address(0), std::nullopt}}, [](const BootstrapResult&) {});
        });
    }
    net.run_for(5min);
    for (std::size_t i : nodes) {
        INFO("node " << i);
        for (std::size_t s : sybils)
            CHECK_FALSE(net.node(i).routing_table().contains(net.node(s).id()));
        CHECK(net.node(i).routing_table().id_census().nonconforming == 0);
    }
    std::uint64_t refused = 0;
    for (std::size_t i : nodes) refused += net.node(i).routing_table().ids_refused();
    CHECK(refused > 0);
    // A value at the target lands on honest nodes only, and is found.
    REQUIRE(put(net, 3, "eclipsed", "safe"));
    for (std::size_t s : sybils) CHECK(net.node(s).storage().size() == 0);
    CHECK(get(net, 30, "eclipsed") == "safe");
}
