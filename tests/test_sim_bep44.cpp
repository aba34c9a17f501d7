// BEP 44 items on the virtual network: iterative put and get of immutable and mutable items.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

ItemPutResult put(sim::Network& net, std::size_t from, const bep44::Item& item) {
    std::optional<ItemPutResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.put_item(now, item, std::nullopt, [&](const ItemPutResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    return *r;
}

ItemPutResult put_mutable(sim::Network& net, std::size_t from, const Ed25519KeyPair& key,
                          const std::string& salt, const std::string& value) {
    std::optional<ItemPutResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.put_mutable(now, key, salt, value, [&](const ItemPutResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    return *r;
}

ItemGetResult get(sim::Network& net, std::size_t from, const NodeId& target,
                  const std::string& salt = "") {
    std::optional<ItemGetResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.get_item(now, target, salt, [&](const ItemGetResult& x) { r = x; });
    });
    REQUIRE(net.run_until([&] { return r.has_value(); }, 60s));
    return *r;
}

std::size_t holders(sim::Network& net, const NodeId& target) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < net.size(); ++i) n += net.node(i).item_store().find(target) ? 1 : 0;
    return n;
}

// A node that holds no copy of the item, so that a get must ask the network.
std::size_t outsider(sim::Network& net, const NodeId& target, std::size_t after) {
    for (std::size_t i = after; i < net.size(); ++i) {
        if (!net.node(i).item_store().find(target)) return i;
    }
    FAIL("every node holds the item");
    return 0;
}

const Ed25519KeyPair kKey = ed25519_key_pair(Ed25519Seed{9, 9, 9});

}  // namespace

TEST_CASE("BEP 44: an immutable item put on one node is found from another", "[sim][bep44]") {
    sim::Network net(61, lan());
    REQUIRE(sim::grow(net, 100).size() == 100);
    const bep44::Item item = bep44::make_immutable("d4:name5:kadne4:sizei42ee");
    const auto p = put(net, 3, item);
    REQUIRE(p.ok);
    CHECK(p.stored == 20);  // the k nearest
    CHECK(p.target == item.target());
    CHECK(holders(net, item.target()) == 21);  // and the putter's own copy

    const std::size_t reader = outsider(net, item.target(), 50);
    const auto g = get(net, reader, item.target());
    REQUIRE(g.ok);
    REQUIRE(g.item);
    CHECK(g.item->value == item.value);
    CHECK_FALSE(g.from.id == net.node(reader).id());
    bool from_a_holder = false;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (net.node(i).id() == g.from.id) from_a_holder = net.endpoint(i) == g.from.endpoint;
    }
    CHECK(from_a_holder);

    const auto missing = get(net, 70, bep44::immutable_target("3:nah"));
    CHECK(missing.code == Failure::NotFound);
}

TEST_CASE("BEP 44: a mutable item's newest version wins, and only its key can change it",
          "[sim][bep44]") {
    sim::Network net(62, lan());
    REQUIRE(sim::grow(net, 100).size() == 100);
    const auto first = put_mutable(net, 5, kKey, "profile", "5:hello");
    REQUIRE(first.ok);
    CHECK(first.item.seq == 1);
    // From another node with the same key: the lookup finds seq 1, so this is seq 2.
    const auto second = put_mutable(net, 40, kKey, "profile", "7:goodbye");
    REQUIRE(second.ok);
    CHECK(second.item.seq == 2);
    CHECK(second.target == first.target);
    // The same value again: the same version, put again.
    const auto again = put_mutable(net, 41, kKey, "profile", "7:goodbye");
    REQUIRE(again.ok);
    CHECK(again.item.seq == 2);

    const std::size_t reader = outsider(net, first.target, 42);
    auto g = get(net, reader, first.target, "profile");
    REQUIRE(g.ok);
    CHECK(g.item->value == "7:goodbye");
    CHECK(g.item->seq == 2);
    CHECK(net.node(reader).stats().bad_items == 0);
    // Without the salt the signature cannot be checked: every answer is refused.
    g = get(net, reader, first.target, "");
    CHECK_FALSE(g.ok);
    CHECK(net.node(reader).stats().bad_items > 0);

    // Replaying the old version (a stale seq) changes nothing: the put's lookup finds seq 2,
    // so the old one is not sent (every holder would refuse it with 302, test_node.cpp).
    const auto stale = put(net, 60, first.item);
    CHECK_FALSE(stale.ok);
    CHECK(stale.code == Failure::Superseded);
    CHECK(stale.error == "a newer version (seq 2) is in the network");
    CHECK(stale.stored == 0);
    const auto after_replay =
        get(net, outsider(net, first.target, reader + 1), first.target, "profile");
    REQUIRE(after_replay.item);
    CHECK(after_replay.item->seq == 2);

    // Another key cannot write there: its items live at another target.
    const Ed25519KeyPair other = ed25519_key_pair(Ed25519Seed{7});
    const auto theirs = put_mutable(net, 61, other, "profile", "4:evil");
    REQUIRE(theirs.ok);
    CHECK_FALSE(theirs.target == first.target);
    const auto still = get(net, reader, first.target, "profile");
    REQUIRE(still.item);
    CHECK(still.item->value == "7:goodbye");
}

TEST_CASE(
    "BEP 44: the publisher keeps its items alive past the storing nodes' 2 hours, until "
    "it stops",
    "[sim][bep44]") {
    sim::Network net(67, lan());
    REQUIRE(sim::grow(net, 60).size() == 60);
    const bep44::Item imm = bep44::make_immutable("9:long-term");
    REQUIRE(put(net, 3, imm).ok);
    const auto m = put_mutable(net, 3, kKey, "s", "7:on-call");
    REQUIRE(m.ok);
    const NodeConfig config;
    REQUIRE(config.item_ttl == 2h);
    // Five hours: the first copies would be gone after two, had the publisher not put them again.
    net.run_for(5h);
    CHECK(net.node(3).stats().items_refreshed >= 6);  // each item at 1.5 h, 3 h and 4.5 h
    CHECK(net.node(3).stats().items_superseded == 0);
    CHECK(holders(net, imm.target()) >= 20);
    CHECK(holders(net, m.target) >= 20);
    const auto g = get(net, outsider(net, m.target, 30), m.target, "s");
    REQUIRE(g.ok);
    CHECK(g.item->value == "7:on-call");
    CHECK(g.item->seq == m.item.seq);  // the same signed version, not a new one
    // The publisher stops: within another item_ttl every copy is gone.
    net.kill(3);
    net.run_for(2h + 1min);
    auto others_holding = [&](const NodeId& target) {
        return holders(net, target) - (net.node(3).item_store().find(target) ? 1 : 0);
    };
    CHECK(others_holding(imm.target()) == 0);
    CHECK(others_holding(m.target) == 0);
}
