// BEP 42: the ID computation against the BEP's own examples, the external address by agreement,
// the routing table's policies, and a node taking an ID to match its address.
#include <catch2/catch.hpp>
#include <string_view>

#include "helpers.hpp"
#include "kad/bep42.hpp"
#include "kad/node.hpp"
#include "kad/routing_table.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;
using bep42::AddressVoter;
using bep42::IdClass;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;

std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// BEP 42's table: IP, rand, an example conforming ID.
struct Example {
    const char* ip;
    int rand;
    const char* id;
};
constexpr Example kExamples[] = {
    {"124.31.75.21", 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
    {"21.75.31.124", 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
    {"65.23.51.170", 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
    {"84.124.73.14", 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
    {"43.213.53.83", 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
};

// `from` saw us at `says`.
bool vote(AddressVoter& v, TimePoint at, const Endpoint& from, const Endpoint& says) {
    return v.add(at, {.from = from, .says = says});
}

NodeId hex(const char* h) {
    return *NodeId::from_hex(h);
}

// The first 21 bits, which BEP 42 fixes.
std::uint32_t prefix21(const NodeId& id) {
    const auto& b = id.bytes();
    return (std::uint32_t{b[0]} << 13) | (std::uint32_t{b[1]} << 5) | (b[2] >> 3);
}

}  // namespace

TEST_CASE("BEP 42: CRC-32C gives the standard check value", "[bep42]") {
    CHECK(bep42::crc32c(bytes_of("123456789")) == 0xE3069283u);
    CHECK(bep42::crc32c(bytes_of("")) == 0u);
}

TEST_CASE("BEP 42: the examples' IDs conform to their addresses, and ours match them", "[bep42]") {
    SeededRandom rng(42);
    for (const auto& e : kExamples) {
        INFO(e.ip);
        const Endpoint ip = *Endpoint::from_address(e.ip, 6881);
        const NodeId example = hex(e.id);
        CHECK(bep42::classify(example, ip) == IdClass::Conforming);
        const NodeId ours =
            bep42::make_id(ip, static_cast<std::uint8_t>(e.rand), NodeId::random(rng));
        CHECK(prefix21(ours) == prefix21(example));
        CHECK(ours.bytes()[19] == e.rand);
        CHECK(bep42::classify(ours, ip) == IdClass::Conforming);
        // Any one of the 21 bits wrong, or another r, and it no longer conforms.
        for (int bit : {0, 7, 13, 20}) {
            CHECK(bep42::classify(example.with_bit_flipped(bit), ip) == IdClass::NonConforming);
        }
        CHECK(bep42::classify(example.with_bit_flipped(159), ip) == IdClass::NonConforming);
        // The bits after the 21st are free.
        CHECK(bep42::classify(example.with_bit_flipped(21), ip) == IdClass::Conforming);
        CHECK(bep42::classify(example.with_bit_flipped(100), ip) == IdClass::Conforming);
    }
    // The address's masked-out bits do not matter; the others do.
    const NodeId first = hex(kExamples[0].id);
    CHECK(bep42::classify(first, *Endpoint::from_address("128.31.75.21", 1)) ==
          IdClass::Conforming);  // the top 6 bits of the first octet are masked out
    CHECK(bep42::classify(first, *Endpoint::from_address("124.31.75.22", 1)) ==
          IdClass::NonConforming);
}

TEST_CASE("BEP 42: IPv6 IDs are made from the first 64 bits, and local networks are exempt",
          "[bep42]") {
    SeededRandom rng(7);
    const Endpoint v6 = *Endpoint::from_address("2001:db8:1:2::77", 6881);
    const NodeId id = bep42::make_id(v6, rng);
    CHECK(bep42::classify(id, v6) == IdClass::Conforming);
    CHECK(bep42::classify(id, *Endpoint::from_address("2001:db8:1:2:ffff::1", 1)) ==
          IdClass::Conforming);  // only the /64 counts
    CHECK(bep42::classify(id, *Endpoint::from_address("2001:db8:1:3::77", 1)) ==
          IdClass::NonConforming);
    for (const char* local :
         {"127.0.0.1", "10.1.2.3", "172.16.9.9", "192.168.1.1", "169.254.1.1", "fd00::1", "::1"}) {
        INFO(local);
        CHECK(bep42::classify(id, *Endpoint::from_address(local, 1)) == IdClass::Exempt);
    }
    // A random ID almost never conforms to a public address (1 in 2^21).
    int conforming = 0;
    const Endpoint pub = *Endpoint::from_address("203.0.113.9", 1);
    for (int i = 0; i < 1000; ++i) {
        conforming += bep42::classify(NodeId::random(rng), pub) == IdClass::Conforming;
    }
    CHECK(conforming == 0);
}

TEST_CASE("AddressVoter: an address is agreed once three networks say it, not one", "[bep42]") {
    AddressVoter v;
    const Endpoint us = *Endpoint::parse("198.51.100.7:6881");
    CHECK_FALSE(vote(v, t0, ep("203.0.113.1:1"), us));
    // The same voter again, and another from its /24, still count as one.
    CHECK_FALSE(vote(v, t0, ep("203.0.113.1:1"), us));
    CHECK_FALSE(vote(v, t0, ep("203.0.113.99:7"), us));
    CHECK_FALSE(v.agreed());
    CHECK_FALSE(vote(v, t0, ep("192.0.2.1:1"), us));
    CHECK_FALSE(v.agreed());
    CHECK(vote(v, t0, ep("198.18.0.1:1"), us));
    REQUIRE(v.agreed());
    CHECK(*v.agreed() == us);
    CHECK(v.agreed_votes() == 3);
}

TEST_CASE("AddressVoter: an answer to our second port counts for the address, not the port",
          "[bep42][nat]") {
    AddressVoter v;
    const Endpoint us = *Endpoint::parse("198.51.100.7:6881");
    const Endpoint second = *Endpoint::parse("198.51.100.7:40001");
    CHECK_FALSE(vote(v, t0, ep("203.0.113.1:1"), us));
    CHECK_FALSE(v.add(t0, {.from = ep("192.0.2.1:1"), .says = second, .port_known = false}));
    CHECK(vote(v, t0, ep("198.18.0.1:1"), us));  // the third network: agreed
    REQUIRE(v.agreed());
    CHECK(*v.agreed() == us);
    CHECK(v.agreed_votes() == 3);
    // More answers to the second port keep the address agreed, at the port we serve at.
    CHECK_FALSE(v.add(t0, {.from = ep("100.64.0.1:1"), .says = second, .port_known = false}));
    CHECK(*v.agreed() == us);
    CHECK(v.agreed_votes() == 4);
    // Only second-port answers: the address is agreed all the same (its port is the best known).
    AddressVoter w;
    for (const char* from : {"203.0.113.1:1", "192.0.2.1:1", "198.18.0.1:1"}) {
        w.add(t0, {.from = ep(from), .says = second, .port_known = false});
    }
    REQUIRE(w.agreed());
    CHECK(w.agreed()->address_string() == "198.51.100.7");
}

TEST_CASE(
    "AddressVoter: one liar among honest voters changes nothing; a new address takes over "
    "only when it leads",
    "[bep42]") {
    AddressVoter v;
    const Endpoint us = *Endpoint::parse("198.51.100.7:6881");
    const Endpoint lie = *Endpoint::parse("6.6.6.6:6881");
    for (int i = 1; i <= 3; ++i)
        vote(v, t0, ep(("203.0." + std::to_string(i) + ".1:1").c_str()), us);
    REQUIRE(v.agreed() == us);
    for (int i = 1; i <= 3; ++i) {
        CHECK_FALSE(vote(v, t0, ep(("192.0." + std::to_string(i) + ".1:1").c_str()), lie));
    }
    CHECK(v.agreed() == us);  // a tie keeps the address we have
    CHECK(vote(v, t0, ep("192.0.9.1:1"), lie));
    CHECK(v.agreed() == lie);  // four to three

    // Votes age out: after the window, the address of today's answers is the one agreed.
    AddressVoter w(bep42::VoterConfig{.window = 10min});
    for (int i = 1; i <= 5; ++i)
        vote(w, t0, ep(("203.0." + std::to_string(i) + ".1:1").c_str()), us);
    const Endpoint moved = *Endpoint::parse("198.51.100.200:6881");
    for (int i = 1; i <= 2; ++i) {
        vote(w, t0 + 11min, ep(("192.0." + std::to_string(i) + ".1:1").c_str()), moved);
    }
    CHECK(w.agreed() == us);  // two votes: not yet
    CHECK(vote(w, t0 + 11min, ep("192.0.3.1:1"), moved));
    CHECK(w.agreed() == moved);
}

TEST_CASE(
    "AddressVoter: a voter's latest opinion counts; loopback voters are told apart by port; "
    "a new port is kept without a change",
    "[bep42]") {
    AddressVoter v;
    const Endpoint a = *Endpoint::parse("127.0.0.1:5000");
    const Endpoint b = *Endpoint::parse("127.0.0.2:5000");
    vote(v, t0, ep("127.0.0.1:1"), a);
    vote(v, t0, ep("127.0.0.1:2"), a);
    vote(v, t0, ep("127.0.0.1:1"), b);  // it changed its mind
    CHECK(v.total_votes() == 2);
    CHECK_FALSE(v.agreed());
    CHECK(vote(v, t0, ep("127.0.0.1:3"), a) == false);  // a: 2, b: 1
    CHECK(vote(v, t0, ep("127.0.0.1:4"), a));
    CHECK(v.agreed() == a);
    CHECK_FALSE(vote(v, t0, ep("127.0.0.1:5"), a.with_port(6000)));
    CHECK(v.agreed() == a.with_port(6000));
    CHECK_FALSE(vote(v, t0, ep("127.0.0.1:6"), Endpoint()));  // unusable: ignored
    CHECK(v.total_votes() == 5);
}

TEST_CASE(
    "RoutingTable: IdPolicy::Require keeps nonconforming IDs out, counts them, and takes "
    "conforming and exempt ones",
    "[bep42][routing]") {
    SeededRandom rng(3);
    RoutingConfig cfg;
    cfg.id_policy = IdPolicy::Require;
    RoutingTable t(NodeId::random(rng), cfg, t0);
    const Endpoint pub = ep("203.0.113.5:6881");
    const NodeId bad = NodeId::random(rng);
    REQUIRE(bep42::classify(bad, pub) == IdClass::NonConforming);
    t.on_answered(t0, bad, pub, 10ms);
    CHECK_FALSE(t.contains(bad));
    CHECK(t.ids_refused() == 1);
    CHECK_FALSE(t.on_heard_of(t0, bad, pub));  // not even worth a ping
    CHECK(t.ids_refused() == 2);
    const NodeId good = bep42::make_id(pub, rng);
    t.on_answered(t0, good, pub, 10ms);
    CHECK(t.contains(good));
    const NodeId local = NodeId::random(rng);
    t.on_answered(t0, local, ep("192.168.1.9:6881"), 10ms);
    CHECK(t.contains(local));
    const auto census = t.id_census();
    CHECK(census.conforming == 1);
    CHECK(census.exempt == 1);
    CHECK(census.nonconforming == 0);

    // With IdPolicy::Any the same node enters, and is counted as nonconforming.
    RoutingConfig any_cfg;
    any_cfg.id_policy = IdPolicy::Any;
    RoutingTable any(NodeId::random(rng), any_cfg, t0);
    any.on_answered(t0, bad, pub, 10ms);
    CHECK(any.contains(bad));
    CHECK(any.id_census().nonconforming == 1);
    CHECK(any.ids_refused() == 0);
}

TEST_CASE(
    "RoutingTable: IdPolicy::Prefer gives a nonconforming contact's slot in a full bucket "
    "to a conforming newcomer",
    "[bep42][routing]") {
    SeededRandom rng(5);
    RoutingConfig cfg;
    cfg.k = 4;
    cfg.id_policy = IdPolicy::Prefer;
    const NodeId self = NodeId::random(rng);
    RoutingTable t(self, cfg, t0);
    // Bucket 0 (IDs with the other first bit) filled with nonconforming nodes in distinct /24s.
    auto address = [](int i) {
        return Endpoint::v4({203, 0, static_cast<std::uint8_t>(i), 1}, 6881);
    };
    auto in_bucket0 = [&](const Endpoint& at, bool conforming) {
        for (;;) {
            const NodeId id = conforming ? bep42::make_id(at, rng) : NodeId::random(rng);
            if (id.bit(0) != self.bit(0) &&
                (bep42::classify(id, at) == IdClass::Conforming) == conforming) {
                return id;
            }
        }
    };
    // Enough nodes that bucket 0 is full and the table cannot split it.
    std::vector<NodeId> olds;
    for (int i = 0; i < 4; ++i) {
        olds.push_back(in_bucket0(address(i), false));
        t.on_answered(t0 + std::chrono::seconds(i), olds.back(), address(i), 10ms);
    }
    // Fill our half too, so that bucket 0 no longer splits.
    for (int i = 10; i < 40 && t.bucket_count() < 2; ++i) {
        t.on_answered(t0, NodeId::random_with_prefix(self, 1, rng), address(i), 10ms);
    }
    REQUIRE(t.bucket_count() >= 2);
    REQUIRE(t.bucket(0).contacts().size() == 4);

    // A nonconforming newcomer waits as a replacement, as ever.
    const NodeId another_bad = in_bucket0(address(50), false);
    t.on_answered(t0 + 1min, another_bad, address(50), 10ms);
    CHECK_FALSE(t.contains(another_bad));
    CHECK(t.ids_displaced() == 0);

    // A conforming one takes the slot of the nonconforming contact seen longest ago.
    const NodeId good = in_bucket0(address(60), true);
    t.on_answered(t0 + 1min, good, address(60), 10ms);
    CHECK(t.contains(good));
    CHECK_FALSE(t.contains(olds[0]));
    CHECK(t.ids_displaced() == 1);
    CHECK(std::any_of(t.bucket(0).replacements().begin(), t.bucket(0).replacements().end(),
                      [&](const Contact& c) { return c.id == olds[0]; }));
}

TEST_CASE("RoutingTable: rekey rebuilds the buckets around the new ID and keeps the contacts",
          "[bep42][routing]") {
    SeededRandom rng(11);
    RoutingTable t(NodeId::random(rng), RoutingConfig{}, t0);
    std::vector<NodeId> ids;
    for (std::uint8_t i = 0; i < 200; ++i) {
        ids.push_back(NodeId::random(rng));
        t.on_answered(t0, ids.back(), Endpoint::v4({10, 0, 1, i}, 6881), 10ms);
    }
    const std::size_t before = t.size();
    const NodeId moved = NodeId::random(rng);
    t.rekey(moved, t0 + 1h);
    CHECK(t.self() == moved);
    // Buckets are split where the new ID falls; the contacts that fit are all still there.
    std::size_t found = 0;
    for (const auto& id : ids) {
        if (const Contact* c = t.find(id)) {
            ++found;
            CHECK(t.bucket_index(id) ==
                  std::min<std::size_t>(static_cast<std::size_t>(common_prefix_length(moved, id)),
                                        t.bucket_count() - 1));
            CHECK(t.find(c->endpoint) == c);
        }
    }
    CHECK(found == t.size());
    CHECK(t.size() > 0);
    CHECK(t.size() + 40 >= before);  // a few may now wait as replacements
    // Every bucket is due for a refresh: we have moved.
    CHECK(t.buckets_due(t0 + 1h, 15min).size() == t.bucket_count());
}

namespace {

// A node and the responders that tell it what address they see it at.
struct Voters {
    CaptureTransport transport;
    SeededRandom rng{9};
    TimePoint now = t0;
    NodeId self = id_from(1);
    Node node;

    explicit Voters(NodeConfig config) : node(config, self, transport, rng, now) {}

    // `from` answers a ping of ours, saying it sees us at `seen`.
    void answer_ping(const Endpoint& from, const NodeId& as, const Endpoint& seen) {
        bool answered = false;
        node.ping(now, from, std::nullopt, [&](const PingResult& r) { answered = r.ok; });
        const auto q = transport.last();
        krpc::Message m;
        m.transaction = q.transaction;
        m.requester = seen;
        m.body = krpc::Response{as, {}, {}, {}};
        node.handle_datagram(now, from, krpc::encode(m));
        REQUIRE(answered);
    }
};

}  // namespace

TEST_CASE(
    "a node with derive_id takes a conforming ID once three responders agree on its public "
    "address, keeping its contacts",
    "[bep42][node]") {
    NodeConfig config;
    config.derive_id = true;
    Voters v(config);
    std::vector<std::pair<NodeId, NodeId>> changes;
    v.node.set_id_observer([&](const NodeId& o, const NodeId& n) { changes.emplace_back(o, n); });
    const Endpoint seen = ep("198.51.100.7:6881");
    REQUIRE(bep42::classify(v.self, seen) == IdClass::NonConforming);
    v.answer_ping(ep("203.0.113.1:6881"), id_from(2), seen);
    v.answer_ping(ep("192.0.2.1:6881"), id_from(3), seen);
    CHECK(v.node.id() == v.self);
    CHECK_FALSE(v.node.external_address());
    v.answer_ping(ep("100.64.0.1:6881"), id_from(4), seen);
    REQUIRE(v.node.external_address() == seen);
    CHECK(v.node.id() != v.self);
    CHECK(bep42::classify(v.node.id(), seen) == IdClass::Conforming);
    CHECK(v.node.stats().id_changes == 1);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].first == v.self);
    CHECK(changes[0].second == v.node.id());
    CHECK(v.node.routing_table().self() == v.node.id());
    CHECK(v.node.routing_table().size() == 3);
    // Queries go out under the new ID: it looks itself up at once.
    const auto q = v.transport.last();
    CHECK(as_query(q).id == v.node.id());
    CHECK(as_query(q).method() == krpc::Method::FindNode);
    // Answers carry it too.
    v.node.handle_datagram(v.now, ep("203.0.113.1:6881"),
                           encode_query("pp", id_from(2), krpc::PingArgs{}));
    CHECK(as_response(v.transport.reply("pp")).id == v.node.id());
}

TEST_CASE("a node keeps its ID when it was given, when it conforms, or when its address is local",
          "[bep42][node]") {
    const Endpoint seen = ep("198.51.100.7:6881");
    SECTION("derive_id off: the address is learnt, the ID kept") {
        Voters v(NodeConfig{});
        for (int i = 1; i <= 3; ++i) {
            v.answer_ping(Endpoint::v4({203, 0, static_cast<std::uint8_t>(i), 1}, 6881),
                          id_from(10 + i), seen);
        }
        CHECK(v.node.external_address() == seen);
        CHECK(v.node.id() == v.self);
        CHECK(v.node.stats().id_changes == 0);
    }
    SECTION("behind a local address nothing needs to match") {
        NodeConfig config;
        config.derive_id = true;
        Voters v(config);
        const Endpoint lan = ep("192.168.1.20:6881");
        for (int i = 1; i <= 3; ++i) {
            v.answer_ping(Endpoint::v4({192, 168, 1, static_cast<std::uint8_t>(i)}, 6881),
                          id_from(10 + i), lan);
        }
        CHECK(v.node.external_address() == lan);
        CHECK(v.node.id() == v.self);
    }
    SECTION("an ID that already conforms stays") {
        NodeConfig config;
        config.derive_id = true;
        SeededRandom rng(1);
        Voters v(config);
        // A second node whose ID conforms from the start.
        CaptureTransport transport;
        const NodeId conforming = bep42::make_id(seen, rng);
        Node n(config, conforming, transport, rng, t0);
        for (int i = 1; i <= 3; ++i) {
            n.ping(t0, Endpoint::v4({203, 0, static_cast<std::uint8_t>(i), 1}, 6881), std::nullopt,
                   [](const PingResult&) {});
            krpc::Message m;
            m.transaction = transport.last().transaction;
            m.requester = seen;
            m.body = krpc::Response{id_from(10 + i), {}, {}, {}};
            n.handle_datagram(t0, Endpoint::v4({203, 0, static_cast<std::uint8_t>(i), 1}, 6881),
                              krpc::encode(m));
        }
        CHECK(n.external_address() == seen);
        CHECK(n.id() == conforming);
        CHECK(n.stats().id_changes == 0);
    }
}

TEST_CASE(
    "RoutingTable: a query under a new ID from a contact's endpoint asks for a ping there, "
    "and the answer moves the endpoint to the new ID",
    "[bep42][routing]") {
    SeededRandom rng(13);
    RoutingTable t(NodeId::random(rng), RoutingConfig{}, t0);
    const Endpoint at = ep("10.0.0.7:6881");
    const NodeId before = NodeId::random(rng);
    const NodeId after = NodeId::random(rng);
    t.on_answered(t0, before, at, 10ms);
    const auto ping = t.on_heard_of(t0 + 1s, after, at);
    REQUIRE(ping);
    CHECK(*ping == PingRequest{after, at, true});    // a probe: `after` never answered us
    CHECK(t.contains(before));                       // hearsay moves nothing
    CHECK_FALSE(t.on_heard_of(t0 + 2s, after, at));  // one ping at a time
    t.on_answered(t0 + 2s, after, at, 10ms);
    CHECK_FALSE(t.contains(before));
    CHECK(t.find(at)->id == after);
}
