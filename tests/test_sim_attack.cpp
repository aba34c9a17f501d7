// Hostile peers on the virtual network: floods, storage exhaustion, spoofing and Sybils.

#include <algorithm>
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

// A public address (TEST-NET-2), as an attacker on the Internet would have.
Endpoint public_ep(std::uint8_t host, std::uint16_t port = 6881) {
    return Endpoint::v4({198, 51, 100, host}, port);
}

std::string find_node_query(std::uint64_t i) {
    return encode_query("f" + std::to_string(i % 100), id_from(i),
                        krpc::FindNodeArgs{id_from(i * 7 + 1), std::nullopt});
}

}  // namespace

TEST_CASE("a node flooded by one attacker at 100,000 queries a second keeps serving honest peers",
          "[sim][attack]") {
    sim::Network net(81, lan());
    REQUIRE(sim::grow(net, 100).size() == 100);
    const std::size_t victim = 7;
    const Endpoint attacker = public_ep(7);
    const Endpoint victim_ep = net.endpoint(victim);
    std::uint64_t replies_to_attacker = 0, bytes_to_attacker = 0;
    net.set_tap([&](std::size_t from, const Endpoint& to, std::string_view data) {
        if (from == victim && to == attacker) {
            ++replies_to_attacker;
            bytes_to_attacker += data.size();
        }
    });

    std::size_t pings = 0, answered = 0, lookups = 0, lookups_found_victim = 0;
    std::uint64_t q = 0;
    // Five simulated seconds: 100 queries every millisecond, and honest work beside them.
    for (int ms = 0; ms < 5000; ++ms) {
        for (int j = 0; j < 100; ++j) {
            net.inject(victim, attacker, find_node_query(q++), net.now() + j * 10us);
        }
        if (ms % 50 == 0) {
            const std::size_t from = 20 + static_cast<std::size_t>(ms / 50) % 80;
            ++pings;
            net.with(from, [&](Node& n, TimePoint now) {
                n.ping(now, victim_ep, std::nullopt,
                       [&](const PingResult& r) { answered += r.ok; });
            });
        }
        if (ms % 250 == 0) {
            // A lookup of the victim's own ID must still find it (it answers the lookup's queries).
            const std::size_t from = 30 + static_cast<std::size_t>(ms / 250);
            ++lookups;
            net.with(from, [&](Node& n, TimePoint now) {
                n.lookup(now, net.node(victim).id(), [&](const LookupResult& r) {
                    if (r.ok && !r.nodes.empty() && r.nodes.front().id == net.node(victim).id()) {
                        ++lookups_found_victim;
                    }
                });
            });
        }
        net.run_for(1ms);
    }
    net.run_for(3s);
    CHECK(q == 500'000);
    CHECK(answered == pings);
    CHECK(lookups_found_victim == lookups);
    const auto& rl = net.node(victim).rate_limiter().stats();
    CHECK(rl.sources_ignored >= 1);
    CHECK(rl.dropped_source + rl.dropped_ignored >= 499'000);
    // No amplification: the attacker got its burst and a trickle, not 500,000 answers.
    const auto& cfg = net.node(victim).config().rate_limit;
    const double allowance = cfg.burst + cfg.rate * 5 * 2;
    CHECK(static_cast<double>(replies_to_attacker) <= allowance);
    INFO("bytes to the attacker: " << bytes_to_attacker);
    CHECK(bytes_to_attacker < 100'000);
}

TEST_CASE(
    "a flood from 10,000 spoofed addresses meets the global budget; contacts are still "
    "answered",
    "[sim][attack]") {
    sim::Network net(82, lan());
    REQUIRE(sim::grow(net, 60).size() == 60);
    const std::size_t victim = 3;
    const Endpoint victim_ep = net.endpoint(victim);
    std::uint64_t replies_to_spoofed = 0;
    net.set_tap([&](std::size_t from, const Endpoint& to, std::string_view) {
        if (from == victim && to.address_bytes()[0] == 203) ++replies_to_spoofed;
    });
    // Honest peers that are contacts of the victim.
    std::vector<std::size_t> contacts;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (i != victim && net.node(victim).routing_table().find(net.endpoint(i))) {
            contacts.push_back(i);
        }
    }
    REQUIRE(contacts.size() >= 10);
    std::size_t pings = 0, answered = 0;
    std::uint64_t q = 0;
    for (int ms = 0; ms < 3000; ++ms) {
        for (int j = 0; j < 100; ++j, ++q) {
            const auto src =
                Endpoint::v4({203, static_cast<std::uint8_t>(q >> 16 & 0x3f),
                              static_cast<std::uint8_t>(q >> 8), static_cast<std::uint8_t>(q % 40)},
                             6881);
            net.inject(victim, src, find_node_query(q), net.now() + j * 10us);
        }
        if (ms % 20 == 0) {
            ++pings;
            net.with(contacts[static_cast<std::size_t>(ms / 20) % contacts.size()],
                     [&](Node& n, TimePoint now) {
                         n.ping(now, victim_ep, std::nullopt,
                                [&](const PingResult& r) { answered += r.ok; });
                     });
        }
        net.run_for(1ms);
    }
    net.run_for(3s);
    const auto& cfg = net.node(victim).config().rate_limit;
    // Replies to the spoofed sources stay within the global budget over the 3 seconds.
    CHECK(static_cast<double>(replies_to_spoofed) <= cfg.global_burst + cfg.global_rate * 3.1);
    CHECK(net.node(victim).rate_limiter().stats().dropped_global > 100'000);
    CHECK(answered == pings);
}

TEST_CASE("one source storing until refused holds no more than its share", "[sim][attack]") {
    NodeConfig honest;
    honest.storage.max_items = 1000;
    honest.storage.max_share = 0.05;  // 50 items
    sim::Network net(83, lan());
    REQUIRE(sim::grow(net, 20, honest).size() == 20);
    const std::size_t victim = 4;
    const std::size_t attacker = net.add_node(NodeConfig{}, std::nullopt, public_ep(9));
    std::size_t stored = 0;
    std::string refusal;
    for (int i = 0; i < 200 && refusal.empty(); ++i) {
        std::optional<StoreRpcResult> r;
        net.with(attacker, [&](Node& n, TimePoint now) {
            n.store(now, net.endpoint(victim), std::nullopt, "spam" + std::to_string(i), "x", {},
                    [&](const StoreRpcResult& x) { r = x; });
        });
        REQUIRE(net.run_until([&] { return r.has_value(); }, 10s));
        if (r->ok) {
            ++stored;
        } else {
            refusal = r->error;
        }
        net.run_for(200ms);  // within its rate: the refusal must come from the quota
    }
    CHECK(stored == 50);
    CHECK(refusal.find("quota") != std::string::npos);
    const Storage& s = net.node(victim).storage();
    REQUIRE(s.usage(public_ep(9)) != nullptr);
    CHECK(s.usage(public_ep(9))->items == 50);
    // Others still store there.
    std::optional<StoreRpcResult> r;
    net.with(5, [&](Node& n, TimePoint now) {
        n.store(now, net.endpoint(victim), std::nullopt, "honest", "value", {},
                [&](const StoreRpcResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 10s));
    CHECK(r->ok);
}

TEST_CASE("a store with a spoofed source is refused: the token went to the real address",
          "[sim][attack]") {
    sim::Network net(84, lan());
    REQUIRE(sim::grow(net, 10).size() == 10);
    const std::size_t victim = 2, impersonated = 3;
    const Endpoint attacker = public_ep(11);
    std::vector<std::pair<Endpoint, std::string>> from_victim;
    net.set_tap([&](std::size_t from, const Endpoint& to, std::string_view data) {
        if (from == victim) from_victim.emplace_back(to, std::string(data));
    });
    // The attacker asks for a token in the impersonated node's name: the answer goes there.
    const NodeId key_target = NodeId::from_key("forged");
    net.inject(victim, net.endpoint(impersonated),
               encode_query("t1", id_from(5), krpc::FindValueArgs{key_target, std::nullopt}));
    // It can get a token for its own address, but that token is bound to that address.
    net.inject(victim, attacker,
               encode_query("t2", id_from(5), krpc::FindValueArgs{key_target, std::nullopt}));
    net.run_for(100ms);
    std::optional<std::string> own_token;
    for (const auto& [to, data] : from_victim) {
        auto m = krpc::decode(data);
        if (to == attacker && m && m->transaction == "t2") own_token = as_response(*m).token;
    }
    REQUIRE(own_token);
    for (const std::string& token : {*own_token, std::string("guess")}) {
        net.inject(victim, net.endpoint(impersonated),
                   encode_query("t3", id_from(5),
                                krpc::StoreArgs{key_target, token, "forged", "evil", 0, {}}));
    }
    net.run_for(100ms);
    CHECK(net.node(victim).storage().find(key_target) == nullptr);
    CHECK(net.node(victim).stats().stores_refused == 2);
}

namespace {

// Grows 100 honest nodes, then brings 1,000 Sybils from one /24 at node `victim`, half of them
// aimed at its farthest bucket and half at IDs next to its own. Returns how many Sybils ended in
// each of the victim's buckets (live contacts).
std::vector<std::size_t> sybil_attack(const NodeConfig& victim_config, bool& honest_kept,
                                      std::size_t& most_in_cache) {
    sim::Network net(85, lan());
    const std::size_t victim = net.add_node(victim_config);
    REQUIRE(sim::grow(net, 100).size() == 100);
    std::vector<const Contact*> before_ptrs = net.node(victim).routing_table().all();
    std::vector<std::pair<NodeId, Endpoint>> before;
    for (const Contact* c : before_ptrs) before.emplace_back(c->id, c->endpoint);
    REQUIRE(before.size() >= 20);

    const NodeId vid = net.node(victim).id();
    for (int i = 0; i < 1000; ++i) {
        NodeId prefix = vid;
        int bits = 12;
        if (i % 2 == 0) {
            // First bit flipped: the victim's bucket 0, already full of honest contacts.
            prefix = vid.with_bit_flipped(0);
            bits = 1;
        }
        const NodeId sid = NodeId::random_with_prefix(prefix, bits, net.rng());
        const std::size_t s = net.add_node(NodeConfig{}, sid,
                                           public_ep(static_cast<std::uint8_t>(1 + i % 250),
                                                     static_cast<std::uint16_t>(7000 + i / 250)));
        net.with(s, [&](Node& n, TimePoint now) {
            n.bootstrap(now, {BootstrapPeer{net.endpoint(victim), std::nullopt}}, [](auto&) {});
        });
        net.run_for(5ms);
    }
    net.run_for(30s);

    const RoutingTable& t = net.node(victim).routing_table();
    honest_kept = std::all_of(before.begin(), before.end(), [&](const auto& c) {
        const Contact* now = t.find(c.first);
        return now && now->endpoint == c.second;
    });
    std::vector<std::size_t> per_bucket(t.bucket_count());
    most_in_cache = 0;
    for (std::size_t i = 0; i < t.bucket_count(); ++i) {
        for (const Contact& c : t.bucket(i).contacts()) {
            if (c.endpoint.address_bytes()[0] == 198) ++per_bucket[i];
        }
        std::size_t cached = 0;
        for (const Contact& c : t.bucket(i).replacements()) {
            if (c.endpoint.address_bytes()[0] == 198) ++cached;
        }
        most_in_cache = std::max(most_in_cache, cached);
    }
    return per_bucket;
}

}  // namespace

TEST_CASE("1,000 Sybils from one /24 do not displace a bucket's honest contacts", "[sim][attack]") {
    bool honest_kept = false;
    std::size_t most_in_cache = 0;
    const auto per_bucket = sybil_attack(NodeConfig{}, honest_kept, most_in_cache);
    CHECK(honest_kept);
    for (std::size_t n : per_bucket) CHECK(n <= 3);
    CHECK(most_in_cache <= 3);

    // The same attack without the per-subnet limit fills buckets with Sybils: the defence, not
    // the scenario, is what keeps them out.
    NodeConfig open;
    open.routing.max_per_ip = 1000;
    open.routing.max_per_subnet = 1000;
    const auto unlimited = sybil_attack(open, honest_kept, most_in_cache);
    CHECK(*std::max_element(unlimited.begin(), unlimited.end()) > 3);
}
