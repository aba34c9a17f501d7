#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <vector>

#include "kad/random.hpp"
#include "kad/routing_table.hpp"

using kad::Contact;
using kad::Endpoint;
using kad::NodeId;
using kad::PingRequest;
using kad::RoutingConfig;
using kad::RoutingTable;
using kad::SeededRandom;
using kad::TimePoint;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;

Endpoint endpoint(std::uint32_t i, std::uint16_t port = 6881) {
    return Endpoint::v4({10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                         static_cast<std::uint8_t>(i)},
                        port);
}

// A random ID sharing exactly `cpl` leading bits with `self`.
NodeId id_with_cpl(const NodeId& self, int cpl, SeededRandom& rng) {
    return NodeId::random_with_prefix(self.with_bit_flipped(cpl), cpl + 1, rng);
}

std::vector<NodeId> ids_of(const std::vector<const Contact*>& contacts) {
    std::vector<NodeId> ids;
    for (const Contact* c : contacts) ids.push_back(c->id);
    return ids;
}

std::vector<NodeId> ids_of(std::span<const Contact> contacts) {
    std::vector<NodeId> ids;
    for (const Contact& c : contacts) ids.push_back(c.id);
    return ids;
}

bool has(std::span<const Contact> contacts, const NodeId& id) {
    return std::any_of(contacts.begin(), contacts.end(),
                       [&](const Contact& c) { return c.id == id; });
}

const Contact* in(std::span<const Contact> contacts, const NodeId& id) {
    for (const Contact& c : contacts) {
        if (c.id == id) return &c;
    }
    return nullptr;
}

// The table's structural invariants.
void check_invariants(const RoutingTable& table) {
    std::size_t total = 0;
    const std::size_t last = table.bucket_count() - 1;
    for (std::size_t i = 0; i < table.bucket_count(); ++i) {
        const auto& b = table.bucket(i);
        CHECK(b.contacts().size() <= table.config().k);
        CHECK(b.replacements().size() <= table.config().replacements);
        for (const Contact& c : b.contacts()) {
            const int cpl = common_prefix_length(table.self(), c.id);
            INFO("bucket " << i << " of " << table.bucket_count() << ", cpl " << cpl);
            if (i < last) {
                CHECK(cpl == static_cast<int>(i));
            } else {
                CHECK(cpl >= static_cast<int>(last));
            }
            CHECK(c.id != table.self());
            CHECK(c.verified);
            CHECK(table.find(c.id) == &c);
            CHECK(table.find(c.endpoint) == &c);
            CHECK(table.bucket_index(c.id) == i);
        }
        for (const Contact& c : b.replacements()) CHECK(table.bucket_index(c.id) == i);
        total += b.contacts().size();
    }
    CHECK(table.size() == total);
    CHECK(table.all().size() == total);
}

}  // namespace

TEST_CASE("RoutingTable: closest() equals a brute-force sort", "[routing]") {
    SeededRandom rng(2024);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    for (std::uint32_t i = 0; i < 10'000; ++i) {
        table.on_answered(t0 + std::chrono::milliseconds(i), NodeId::random(rng), endpoint(i),
                          10ms);
    }
    check_invariants(table);
    // The table keeps what fits: about k per bucket for log2(10000 / k) buckets and more.
    CHECK(table.size() > 150);
    CHECK(table.bucket_count() > 7);

    std::vector<NodeId> everyone = ids_of(table.all());
    auto brute_force = [&](const NodeId& target, std::size_t n) {
        std::vector<NodeId> sorted = everyone;
        std::sort(sorted.begin(), sorted.end(), kad::CloserTo{target});
        sorted.resize(std::min(n, sorted.size()));
        return sorted;
    };

    std::vector<NodeId> targets;
    for (int i = 0; i < 500; ++i) targets.push_back(NodeId::random(rng));
    for (int cpl = 0; cpl < 40; ++cpl) targets.push_back(id_with_cpl(self, cpl, rng));
    targets.push_back(self);
    targets.push_back(everyone.front());
    targets.push_back(everyone.back());
    for (const NodeId& target : targets) {
        INFO("target " << target.to_hex());
        CHECK(ids_of(table.closest(target, 20)) == brute_force(target, 20));
    }
    CHECK(ids_of(table.closest(targets[0], 1)) == brute_force(targets[0], 1));
    CHECK(ids_of(table.closest(targets[1], 100)) == brute_force(targets[1], 100));
    CHECK(ids_of(table.closest(targets[2], 100'000)) == brute_force(targets[2], 100'000));
    CHECK(table.closest(targets[3], 0).empty());

    // The out-parameter form gives the same answer and replaces what was in the vector.
    std::vector<const Contact*> out(3, nullptr);
    table.closest(targets[4], 20, out);
    CHECK(ids_of(out) == brute_force(targets[4], 20));
}

TEST_CASE("RoutingTable: the next refresh follows the bucket touched longest ago", "[routing]") {
    SeededRandom rng(77);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    const auto interval = 15min;
    auto oldest = [&] {
        TimePoint t = TimePoint::max();
        for (std::size_t i = 0; i < table.bucket_count(); ++i) {
            t = std::min(t, table.bucket(i).last_touched());
        }
        return t;
    };
    // Contacts answer (touching their buckets, splitting the last), lookups touch buckets, the
    // oldest among them is touched again and again: the next refresh is always the oldest
    // bucket's, as a scan of them all says.
    TimePoint now = t0;
    for (std::uint32_t i = 0; i < 3000; ++i) {
        now += 1s;
        switch (rng.uniform(3)) {
            case 0:
                table.on_answered(now, NodeId::random(rng), endpoint(i), 10ms);
                break;
            case 1:
                table.touch(table.random_id_in_bucket(rng.uniform(table.bucket_count()), rng), now);
                break;
            default:
                for (std::size_t b = 0; b < table.bucket_count(); ++b) {
                    if (table.bucket(b).last_touched() == oldest()) {
                        table.touch(table.random_id_in_bucket(b, rng), now);
                        break;
                    }
                }
        }
        REQUIRE(table.next_refresh(interval) == oldest() + interval);
    }
    CHECK(table.bucket_count() > 5);
    // A new ID makes every bucket due at once.
    table.rekey(NodeId::random(rng), now);
    CHECK(table.next_refresh(interval) == TimePoint{} + interval);
}

TEST_CASE("RoutingTable: closest() orders distances equal in their first 64 bits", "[routing]") {
    // closest() sorts by the first 64 bits of each distance and compares whole IDs only where
    // those are equal: here they are equal for every contact (IDs sharing their first 8 bytes).
    SeededRandom rng(77);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    const NodeId prefix = NodeId::random(rng);
    for (std::uint32_t i = 0; i < 40; ++i) {
        const NodeId id = NodeId::random_with_prefix(prefix, 64, rng);
        table.on_answered(t0 + std::chrono::milliseconds(i), id, endpoint(i), 10ms);
    }
    const std::vector<NodeId> everyone = ids_of(table.all());
    REQUIRE(everyone.size() >= 20);
    for (int round = 0; round < 50; ++round) {
        const NodeId target =
            round % 2 ? NodeId::random_with_prefix(prefix, 64, rng) : NodeId::random(rng);
        std::vector<NodeId> sorted = everyone;
        std::sort(sorted.begin(), sorted.end(), kad::CloserTo{target});
        for (std::size_t n : {1u, 7u, 20u, 100u}) {
            std::vector<NodeId> want(
                sorted.begin(),
                sorted.begin() + static_cast<std::ptrdiff_t>(std::min(n, sorted.size())));
            INFO("target " << target.to_hex() << ", n " << n);
            CHECK(ids_of(table.closest(target, n)) == want);
        }
    }
}

TEST_CASE("RoutingTable: the last bucket splits", "[routing]") {
    SeededRandom rng(1);
    const NodeId self = NodeId::random(rng);
    RoutingConfig config;
    config.k = 2;
    RoutingTable table(self, config, t0);
    CHECK(table.bucket_count() == 1);

    const NodeId a0 = id_with_cpl(self, 0, rng);
    const NodeId b0 = id_with_cpl(self, 0, rng);
    table.on_answered(t0, a0, endpoint(1), std::nullopt);
    table.on_answered(t0, b0, endpoint(2), std::nullopt);
    CHECK(table.bucket_count() == 1);  // two fit in one bucket
    CHECK(table.size() == 2);

    // A third contact with cpl 0: the only bucket is the last one, so it splits. Nothing moves
    // to the new bucket, and bucket 0 can no longer split: the newcomer waits as a replacement.
    const NodeId c0 = id_with_cpl(self, 0, rng);
    table.on_answered(t0, c0, endpoint(3), std::nullopt);
    CHECK(table.bucket_count() == 2);
    CHECK(ids_of(table.bucket(0).contacts()) == std::vector<NodeId>{a0, b0});
    CHECK(table.bucket(1).contacts().empty());
    CHECK(has(table.bucket(0).replacements(), c0));
    CHECK_FALSE(table.contains(c0));

    // Deeper contacts go to the last bucket, which splits again when it overflows and hands
    // each contact to the bucket of its common prefix length.
    const NodeId a1 = id_with_cpl(self, 1, rng);
    const NodeId a3 = id_with_cpl(self, 3, rng);
    const NodeId a5 = id_with_cpl(self, 5, rng);
    table.on_answered(t0, a1, endpoint(4), std::nullopt);
    table.on_answered(t0, a3, endpoint(5), std::nullopt);
    CHECK(table.bucket_count() == 2);
    CHECK(table.bucket(1).contacts().size() == 2);
    table.on_answered(t0, a5, endpoint(6), std::nullopt);
    CHECK(table.bucket_count() == 3);
    CHECK(ids_of(table.bucket(1).contacts()) == std::vector<NodeId>{a1});
    CHECK(ids_of(table.bucket(2).contacts()) == std::vector<NodeId>{a3, a5});
    CHECK(table.size() == 5);
    check_invariants(table);

    // Contacts sharing a long prefix make the table split many times in one insertion.
    const NodeId a150 = id_with_cpl(self, 150, rng);
    table.on_answered(t0, a150, endpoint(7), std::nullopt);
    CHECK(table.bucket_count() == 5);  // a3 alone in bucket 3; a5 and a150 in the last
    CHECK(ids_of(table.bucket(3).contacts()) == std::vector<NodeId>{a3});
    CHECK(ids_of(table.bucket(4).contacts()) == std::vector<NodeId>{a5, a150});
    const NodeId a151 = id_with_cpl(self, 151, rng);
    table.on_answered(t0, a151, endpoint(8), std::nullopt);
    CHECK(table.bucket_count() == 7);
    CHECK(table.bucket(4).contacts().empty());
    CHECK(ids_of(table.bucket(5).contacts()) == std::vector<NodeId>{a5});
    CHECK(ids_of(table.bucket(6).contacts()) == std::vector<NodeId>{a150, a151});
    check_invariants(table);

    // Down to the last bit: only one ID shares 159 bits with ours, and two share exactly 158,
    // so the table ends with 160 buckets, the last holding the one ID next to ours.
    const NodeId near = self.with_bit_flipped(159);
    const NodeId x158 = self.with_bit_flipped(158);
    const NodeId y158 = x158.with_bit_flipped(159);
    table.on_answered(t0, near, endpoint(9), std::nullopt);
    table.on_answered(t0, x158, endpoint(10), std::nullopt);
    table.on_answered(t0, y158, endpoint(11), std::nullopt);
    CHECK(table.bucket_count() == 160);
    CHECK(ids_of(table.bucket(159).contacts()) == std::vector<NodeId>{near});
    CHECK(ids_of(table.bucket(158).contacts()) == std::vector<NodeId>{x158, y158});
    CHECK(table.size() == 10);
    check_invariants(table);
}

TEST_CASE("RoutingTable: replacements for a full bucket", "[routing]") {
    SeededRandom rng(2);
    const NodeId self = NodeId::random(rng);
    RoutingConfig config;
    config.k = 2;
    config.replacements = 3;
    config.max_failures = 2;
    config.stale_after = 15min;
    RoutingTable table(self, config, t0);

    // Bucket 0 full (a, b) and no longer splittable.
    const NodeId a = id_with_cpl(self, 0, rng);
    const NodeId b = id_with_cpl(self, 0, rng);
    table.on_answered(t0, a, endpoint(1), std::nullopt);
    table.on_answered(t0 + 1min, b, endpoint(2), std::nullopt);
    table.on_answered(t0, id_with_cpl(self, 1, rng), endpoint(3), std::nullopt);
    table.on_answered(t0, id_with_cpl(self, 2, rng), endpoint(4), std::nullopt);
    table.on_answered(t0, id_with_cpl(self, 3, rng), endpoint(5), std::nullopt);
    REQUIRE(table.bucket_count() >= 2);
    REQUIRE(table.bucket(0).contacts().size() == 2);

    SECTION("a new answering contact waits in the replacement cache") {
        const NodeId c = id_with_cpl(self, 0, rng);
        table.on_answered(t0 + 2min, c, endpoint(10), 30ms);
        CHECK_FALSE(table.contains(c));
        const Contact* r = in(table.bucket(0).replacements(), c);
        REQUIRE(r != nullptr);
        CHECK(r->verified);
        CHECK(r->endpoint == endpoint(10));
        CHECK(r->last_seen == t0 + 2min);
        CHECK(ids_of(table.bucket(0).contacts()) == std::vector<NodeId>{a, b});
        check_invariants(table);
    }

    SECTION("hearing of a newcomer pings the stale least-recently-seen contact") {
        const NodeId c = id_with_cpl(self, 0, rng);
        // Not stale yet: no ping, but the newcomer is remembered.
        CHECK_FALSE(table.on_heard_of(t0 + 10min, c, endpoint(10)).has_value());
        const Contact* r = in(table.bucket(0).replacements(), c);
        REQUIRE(r != nullptr);
        CHECK_FALSE(r->verified);
        CHECK_FALSE(table.contains(c));

        // a was seen at t0: stale at t0 + 15 min exactly.
        const NodeId d = id_with_cpl(self, 0, rng);
        auto ping = table.on_heard_of(t0 + 15min, d, endpoint(11));
        REQUIRE(ping.has_value());
        CHECK(*ping == PingRequest{a, endpoint(1)});
        CHECK(in(table.bucket(0).contacts(), a)->ping_pending);
        CHECK(has(table.bucket(0).replacements(), d));
        CHECK_FALSE(table.contains(d));

        // While that ping is out, no second one.
        CHECK_FALSE(table.on_heard_of(t0 + 16min, id_with_cpl(self, 0, rng), endpoint(12)));

        SECTION("it answers: it stays, the newcomers wait") {
            table.on_answered(t0 + 16min, a, endpoint(1), 20ms);
            const Contact* ca = table.find(a);
            REQUIRE(ca != nullptr);
            CHECK_FALSE(ca->ping_pending);
            CHECK(ca->last_seen == t0 + 16min);
            CHECK(ids_of(table.bucket(0).contacts()) == std::vector<NodeId>{a, b});
            // Now b is the least recently seen, and stale at t0 + 16 min.
            auto next = table.on_heard_of(t0 + 16min, id_with_cpl(self, 0, rng), endpoint(13));
            REQUIRE(next.has_value());
            CHECK(next->id == b);
        }
        SECTION("the ping is abandoned: a later newcomer pings it again") {
            table.on_ping_abandoned(a);
            CHECK_FALSE(table.find(a)->ping_pending);
            auto again = table.on_heard_of(t0 + 17min, id_with_cpl(self, 0, rng), endpoint(13));
            REQUIRE(again.has_value());
            CHECK(again->id == a);
        }
    }

    SECTION("a failing contact is removed and the best verified replacement promoted") {
        const NodeId c = id_with_cpl(self, 0, rng);
        const NodeId d = id_with_cpl(self, 0, rng);
        const NodeId e = id_with_cpl(self, 0, rng);
        table.on_answered(t0 + 2min, c, endpoint(10), std::nullopt);
        table.on_answered(t0 + 3min, d, endpoint(11), std::nullopt);  // verified, most recent
        CHECK_FALSE(table.on_heard_of(t0 + 4min, e, endpoint(12)));   // hearsay only
        REQUIRE(table.bucket(0).replacements().size() == 3);

        // One failure: still there, but closest() leaves it out unless asked.
        CHECK_FALSE(table.on_failed(t0 + 5min, a, endpoint(1)));
        REQUIRE(table.find(a) != nullptr);
        CHECK(table.find(a)->failures == 1);
        const auto without = ids_of(table.closest(a, 10));
        CHECK(std::find(without.begin(), without.end(), a) == without.end());
        CHECK(without.size() == 4);  // b and the three deeper contacts
        CHECK(ids_of(table.closest(a, 1, true)) == std::vector<NodeId>{a});
        // A failure reported for another endpoint of the same ID does not count.
        CHECK_FALSE(table.on_failed(t0 + 5min, a, endpoint(99)));
        CHECK(table.find(a)->failures == 1);

        // The second failure removes it; d (verified, seen last) takes its place.
        CHECK_FALSE(table.on_failed(t0 + 6min, a, endpoint(1)));
        CHECK_FALSE(table.contains(a));
        CHECK(table.find(endpoint(1)) == nullptr);
        CHECK(table.contains(d));
        CHECK_FALSE(has(table.bucket(0).replacements(), d));

        // Next c, the only verified one left.
        table.on_failed(t0 + 7min, b, endpoint(2));
        CHECK_FALSE(table.on_failed(t0 + 7min, b, endpoint(2)));
        CHECK(table.contains(c));
        CHECK(ids_of(table.bucket(0).contacts()) == std::vector<NodeId>{d, c});

        // Only hearsay left: the table asks for a ping before e may take the slot, and d keeps
        // it until then (failing).
        table.on_failed(t0 + 8min, d, endpoint(11));
        auto ping = table.on_failed(t0 + 8min, d, endpoint(11));
        REQUIRE(ping.has_value());
        // e never answered us: from the second port (a probe).
        CHECK(*ping == PingRequest{e, endpoint(12), true});
        CHECK_FALSE(table.contains(e));
        REQUIRE(table.find(d) != nullptr);
        CHECK(table.find(d)->failures == 2);
        CHECK(ids_of(table.bucket(0).contacts()) == std::vector<NodeId>{d, c});
        table.on_answered(t0 + 9min, e, endpoint(12), std::nullopt);
        CHECK(table.contains(e));
        CHECK_FALSE(table.contains(d));
        CHECK(table.bucket(0).replacements().empty());
        check_invariants(table);
    }

    SECTION("a failing contact gives way to one that has just answered") {
        table.on_failed(t0 + 2min, b, endpoint(2));
        const NodeId c = id_with_cpl(self, 0, rng);
        table.on_answered(t0 + 3min, c, endpoint(10), std::nullopt);
        CHECK(table.contains(c));
        CHECK_FALSE(table.contains(b));
        CHECK(table.contains(a));
        check_invariants(table);
    }

    SECTION("an unanswered candidate is forgotten") {
        const NodeId c = id_with_cpl(self, 0, rng);
        table.on_heard_of(t0 + 1min, c, endpoint(10));
        REQUIRE(has(table.bucket(0).replacements(), c));
        CHECK_FALSE(table.on_failed(t0 + 2min, c, endpoint(10)));
        CHECK_FALSE(has(table.bucket(0).replacements(), c));
    }

    SECTION("the replacement cache is bounded and prefers verified entries") {
        std::vector<NodeId> verified;
        for (int i = 0; i < 3; ++i) {
            verified.push_back(id_with_cpl(self, 0, rng));
            table.on_answered(t0 + std::chrono::minutes(2 + i), verified.back(), endpoint(20 + i),
                              std::nullopt);
        }
        CHECK(table.bucket(0).replacements().size() == 3);
        // Hearsay does not push out an entry that answered.
        table.on_heard_of(t0 + 6min, id_with_cpl(self, 0, rng), endpoint(30));
        CHECK(ids_of(table.bucket(0).replacements()) == verified);
        // A newer answer pushes out the oldest.
        const NodeId newest = id_with_cpl(self, 0, rng);
        table.on_answered(t0 + 7min, newest, endpoint(31), std::nullopt);
        CHECK(ids_of(table.bucket(0).replacements()) ==
              std::vector<NodeId>{verified[1], verified[2], newest});
    }
}

TEST_CASE("RoutingTable: candidates are pinged before they enter", "[routing]") {
    SeededRandom rng(3);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    const NodeId a = NodeId::random(rng);

    auto ping = table.on_heard_of(t0, a, endpoint(1));
    REQUIRE(ping.has_value());
    // From the second port: only a node strangers can reach answers there.
    CHECK(*ping == PingRequest{a, endpoint(1), true});
    CHECK_FALSE(table.contains(a));
    CHECK(table.size() == 0);
    CHECK(table.closest(a, 20).empty());
    // Hearing of it again while the ping is out asks for nothing more.
    CHECK_FALSE(table.on_heard_of(t0 + 1s, a, endpoint(1)).has_value());

    table.on_answered(t0 + 2s, a, endpoint(1), 50ms);
    const Contact* c = table.find(a);
    REQUIRE(c != nullptr);
    CHECK(c->verified);
    CHECK_FALSE(c->ping_pending);
    CHECK(c->last_seen == t0 + 2s);
    CHECK(c->srtt() == std::optional<kad::Duration>(50ms));
    CHECK(table.bucket(table.bucket_index(a)).replacements().empty());
    // Known now: nothing to ping.
    CHECK_FALSE(table.on_heard_of(t0 + 3s, a, endpoint(1)).has_value());
}

TEST_CASE("RoutingTable: never the own ID, never an unusable endpoint", "[routing]") {
    SeededRandom rng(4);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    table.on_answered(t0, self, endpoint(1), std::nullopt);
    CHECK_FALSE(table.on_heard_of(t0, self, endpoint(1)).has_value());
    CHECK(table.size() == 0);
    CHECK_FALSE(table.contains(self));

    const NodeId a = NodeId::random(rng);
    table.on_answered(t0, a, endpoint(1, 0), std::nullopt);
    table.on_answered(t0, a, Endpoint(), std::nullopt);
    table.on_answered(t0, a, Endpoint::v4({224, 0, 0, 1}, 5), std::nullopt);
    CHECK_FALSE(table.on_heard_of(t0, a, endpoint(1, 0)).has_value());
    CHECK(table.size() == 0);
}

TEST_CASE("RoutingTable: at most one contact per endpoint", "[routing]") {
    SeededRandom rng(5);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    const NodeId a = NodeId::random(rng);
    const NodeId b = NodeId::random(rng);
    table.on_answered(t0, a, endpoint(1), std::nullopt);
    REQUIRE(table.contains(a));

    // A new ID answering from a known endpoint replaces the old contact.
    table.on_answered(t0 + 1s, b, endpoint(1), std::nullopt);
    CHECK(table.contains(b));
    CHECK_FALSE(table.contains(a));
    CHECK(table.size() == 1);
    REQUIRE(table.find(endpoint(1)) != nullptr);
    CHECK(table.find(endpoint(1))->id == b);
    // Same address, another port: another endpoint.
    table.on_answered(t0 + 2s, a, endpoint(1, 6882), std::nullopt);
    CHECK(table.size() == 2);
    check_invariants(table);
}

TEST_CASE("RoutingTable: a known ID at a new endpoint", "[routing]") {
    SeededRandom rng(6);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    const NodeId a = NodeId::random(rng);
    table.on_answered(t0, a, endpoint(1), std::nullopt);

    // Ignored while the old endpoint has no failures.
    table.on_answered(t0 + 1s, a, endpoint(2), std::nullopt);
    REQUIRE(table.find(a) != nullptr);
    CHECK(table.find(a)->endpoint == endpoint(1));
    CHECK(table.find(a)->last_seen == t0);
    CHECK(table.find(endpoint(2)) == nullptr);

    // Once the old endpoint has failed, the new one is taken.
    table.on_failed(t0 + 2s, a, endpoint(1));
    table.on_answered(t0 + 3s, a, endpoint(2), 5ms);
    REQUIRE(table.find(a) != nullptr);
    CHECK(table.find(a)->endpoint == endpoint(2));
    CHECK(table.find(a)->failures == 0);
    CHECK(table.find(endpoint(1)) == nullptr);
    CHECK(table.find(endpoint(2)) == table.find(a));
    CHECK(table.size() == 1);
    check_invariants(table);
}

TEST_CASE("RoutingTable: refresh bookkeeping", "[routing]") {
    SeededRandom rng(7);
    const NodeId self = NodeId::random(rng);
    RoutingConfig config;
    config.k = 2;
    RoutingTable table(self, config, t0);
    const auto hour = std::chrono::hours(1);

    CHECK(table.next_refresh(hour) == t0 + hour);
    CHECK(table.buckets_due(t0 + 59min, hour).empty());
    CHECK(table.buckets_due(t0 + hour, hour) == std::vector<std::size_t>{0});

    // Three contacts with cpl 0, 0, 1 at t0 + 10 min: two buckets, both touched then.
    const NodeId first = id_with_cpl(self, 0, rng);
    table.on_answered(t0 + 10min, first, endpoint(1), std::nullopt);
    table.on_answered(t0 + 10min, id_with_cpl(self, 0, rng), endpoint(2), std::nullopt);
    table.on_answered(t0 + 10min, id_with_cpl(self, 1, rng), endpoint(3), std::nullopt);
    REQUIRE(table.bucket_count() == 2);
    CHECK(table.bucket(0).last_touched() == t0 + 10min);
    CHECK(table.bucket(1).last_touched() == t0 + 10min);
    CHECK(table.next_refresh(hour) == t0 + 70min);

    // A lookup in bucket 1's range refreshes only bucket 1.
    table.touch(id_with_cpl(self, 5, rng), t0 + 30min);
    CHECK(table.bucket(1).last_touched() == t0 + 30min);
    CHECK(table.bucket(0).last_touched() == t0 + 10min);
    CHECK(table.next_refresh(hour) == t0 + 70min);
    CHECK(table.buckets_due(t0 + 70min, hour) == std::vector<std::size_t>{0});
    CHECK(table.buckets_due(t0 + 90min, hour) == std::vector<std::size_t>{0, 1});
    table.touch(id_with_cpl(self, 0, rng), t0 + 40min);
    CHECK(table.next_refresh(hour) == t0 + 90min);
    CHECK(table.buckets_due(t0 + 80min, hour).empty());

    // A contact answering touches its bucket.
    table.on_answered(t0 + 50min, first, endpoint(1), std::nullopt);
    CHECK(table.bucket(0).last_touched() == t0 + 50min);
}

TEST_CASE("RoutingTable: random_id_in_bucket falls in that bucket", "[routing]") {
    SeededRandom rng(8);
    const NodeId self = NodeId::random(rng);
    RoutingTable table(self, RoutingConfig{}, t0);
    CHECK(table.bucket_index(table.random_id_in_bucket(0, rng)) == 0);
    for (std::uint32_t i = 0; i < 3000; ++i) {
        table.on_answered(t0, NodeId::random(rng), endpoint(i), std::nullopt);
    }
    REQUIRE(table.bucket_count() > 5);
    for (std::size_t i = 0; i < table.bucket_count(); ++i) {
        for (int rep = 0; rep < 50; ++rep) {
            const NodeId id = table.random_id_in_bucket(i, rng);
            INFO("bucket " << i);
            CHECK(table.bucket_index(id) == i);
        }
    }
    // The IDs differ: they are random within the range.
    CHECK(table.random_id_in_bucket(1, rng) != table.random_id_in_bucket(1, rng));
}

TEST_CASE("a bucket takes at most a few contacts from one address or one /24", "[routing]") {
    SeededRandom rng(77);
    const NodeId self = NodeId::random(rng);
    RoutingConfig c;
    c.k = 8;
    RoutingTable t(self, c, t0);
    auto sybil = [](int i) {
        return Endpoint::v4({198, 51, 100, static_cast<std::uint8_t>(i % 4)},
                            static_cast<std::uint16_t>(7000 + i));
    };
    for (int i = 0; i < 50; ++i) t.on_answered(t0, id_with_cpl(self, 0, rng), sybil(i), 10ms);
    CHECK(t.bucket(0).contacts().size() == 3);  // max_per_subnet
    std::size_t cached = 0;
    for (const Contact& r : t.bucket(0).replacements()) cached += r.verified ? 1 : 0;
    CHECK(cached == 3);
    CHECK(t.address_limited() > 0);
    // Per address: two from one IP, even with room in its /24's share.
    RoutingConfig c2 = c;
    c2.max_per_subnet = 8;
    RoutingTable t2(self, c2, t0);
    for (int i = 0; i < 5; ++i) {
        t2.on_answered(t0, id_with_cpl(self, 0, rng), Endpoint::v4({198, 51, 100, 1}, 7000 + i),
                       10ms);
    }
    CHECK(t2.bucket(0).contacts().size() == 2);
    // Other networks are unaffected; private and loopback addresses are exempt by default.
    for (int i = 0; i < 5; ++i) {
        t.on_answered(t0, id_with_cpl(self, 0, rng), Endpoint::v4({203, 0, 113, 1}, 7000 + i),
                      10ms);
    }
    CHECK(t.bucket(0).contacts().size() == 5);
    for (int i = 0; i < 5; ++i)
        t.on_answered(t0, id_with_cpl(self, 0, rng), endpoint(1, 7000 + i), 10ms);
    CHECK(t.bucket(0).contacts().size() == 8);
}

TEST_CASE("with restrict_local, the per-subnet limit applies to private addresses too",
          "[routing]") {
    SeededRandom rng(78);
    const NodeId self = NodeId::random(rng);
    RoutingConfig c;
    c.restrict_local = true;
    RoutingTable t(self, c, t0);
    for (int i = 0; i < 10; ++i) {
        t.on_answered(t0, id_with_cpl(self, 0, rng),
                      endpoint(1, static_cast<std::uint16_t>(7000 + i)), 10ms);
    }
    CHECK(t.bucket(0).contacts().size() == 2);
}

TEST_CASE("a replacement over its network's share is not promoted", "[routing]") {
    SeededRandom rng(79);
    const NodeId self = NodeId::random(rng);
    RoutingConfig c;
    c.k = 4;
    c.max_failures = 1;
    RoutingTable t(self, c, t0);
    auto sybil = [](int i) {
        return Endpoint::v4({198, 51, 100, static_cast<std::uint8_t>(i)}, 7000);
    };
    // One Sybil gets in while there is room, then three honest contacts fill the bucket.
    t.on_answered(t0, id_with_cpl(self, 0, rng), sybil(100), 10ms);
    std::vector<NodeId> honest;
    for (int i = 0; i < 3; ++i) {
        honest.push_back(id_with_cpl(self, 0, rng));
        t.on_answered(t0, honest.back(),
                      Endpoint::v4({203, 0, static_cast<std::uint8_t>(i), 1}, 6881), 10ms);
    }
    // More Sybils answer: three wait in the cache, the rest are turned away.
    for (int i = 0; i < 10; ++i) t.on_answered(t0, id_with_cpl(self, 0, rng), sybil(i), 10ms);
    CHECK(t.bucket(0).replacements().size() == 3);
    // Every honest contact fails: Sybils take their places only up to the subnet's share. The
    // last honest one, which no Sybil may replace, stays (failing).
    for (std::size_t i = 0; i < honest.size(); ++i) {
        t.on_failed(t0, honest[i], Endpoint::v4({203, 0, static_cast<std::uint8_t>(i), 1}, 6881));
    }
    std::size_t sybils = 0;
    for (const Contact& x : t.bucket(0).contacts()) sybils += x.endpoint.address_bytes()[0] == 198;
    CHECK(sybils == 3);
    CHECK(t.bucket(0).contacts().size() == 4);
    REQUIRE(t.find(honest[2]) != nullptr);
    CHECK(t.find(honest[2])->failures == 1);
    CHECK(t.bucket(0).replacements().size() == 1);
}

TEST_CASE("a full replacement cache drops entries, and counts them", "[routing]") {
    SeededRandom rng(80);
    const NodeId self = NodeId::random(rng);
    RoutingConfig c;
    c.k = 2;
    c.replacements = 2;
    RoutingTable t(self, c, t0);
    for (std::uint32_t i = 0; i < 7; ++i) {
        t.on_answered(t0 + i * 1s, id_with_cpl(self, 0, rng), endpoint(i + 1), 10ms);
    }
    CHECK(t.bucket(0).contacts().size() == 2);
    CHECK(t.bucket(0).replacements().size() == 2);
    CHECK(t.replacements_dropped() == 3);
}

// Kademlia §4.1: a stale contact stays while nothing would replace it. Before, a contact went
// after 2 unanswered queries whatever the bucket held, and a 6-node network's tables shrank to
// 0-1 contacts under 20-40 % loss (tests/e2e/test_faults.py).
TEST_CASE("a failing contact stays while nothing would replace it", "[routing]") {
    SeededRandom rng(81);
    const NodeId self = NodeId::random(rng);
    RoutingConfig c;
    c.k = 3;
    RoutingTable t(self, c, t0);
    const NodeId a = id_with_cpl(self, 0, rng);
    const NodeId b = id_with_cpl(self, 0, rng);
    t.on_answered(t0, a, endpoint(1), 10ms);
    t.on_answered(t0, b, endpoint(2), 10ms);
    for (int i = 0; i < 40; ++i) CHECK_FALSE(t.on_failed(t0 + i * 1s, a, endpoint(1)));
    REQUIRE(t.find(a) != nullptr);
    CHECK(t.find(a)->failures == 40);
    CHECK(t.size() == 2);
    // Ranked after the contacts that answer: out of closest() unless asked for.
    CHECK(ids_of(t.closest(a, 3)) == std::vector<NodeId>{b});
    CHECK(ids_of(t.closest(a, 3, true)) == std::vector<NodeId>{a, b});
    check_invariants(t);

    SECTION("it answers again: its failures are gone") {
        t.on_answered(t0 + 1min, a, endpoint(1), 10ms);
        CHECK(t.find(a)->failures == 0);
        CHECK(t.recoveries() == 1);  // failing since t0, a minute of silence: it was cut off
    }
    SECTION("a newcomer that answers takes its slot once the bucket is full") {
        const NodeId x = id_with_cpl(self, 0, rng);
        t.on_answered(t0 + 1min, x, endpoint(3), 10ms);  // room: both stay
        CHECK(t.size() == 3);
        CHECK(t.contains(a));
        const NodeId y = id_with_cpl(self, 0, rng);
        t.on_answered(t0 + 2min, y, endpoint(4), 10ms);  // full: y replaces the failing one
        CHECK_FALSE(t.contains(a));
        CHECK(t.contains(y));
        check_invariants(t);
    }
    SECTION("with a verified replacement at hand, it goes at max_failures") {
        t.on_answered(t0 + 1min, a, endpoint(1), 10ms);  // back
        const NodeId x = id_with_cpl(self, 0, rng);
        const NodeId y = id_with_cpl(self, 0, rng);
        t.on_answered(t0 + 1min, x, endpoint(3), 10ms);
        t.on_answered(t0 + 1min, y, endpoint(4), 10ms);  // full now: y waits in the cache
        REQUIRE(has(t.bucket(0).replacements(), y));
        CHECK_FALSE(t.on_failed(t0 + 2min, a, endpoint(1)));
        CHECK(t.contains(a));
        CHECK_FALSE(t.on_failed(t0 + 2min, a, endpoint(1)));
        CHECK_FALSE(t.contains(a));
        CHECK(t.contains(y));
        check_invariants(t);
    }
    SECTION("it queries us: a ping to it, since its answer clears its failures") {
        auto ping = t.on_heard_of(t0 + 1min, a, endpoint(1));
        REQUIRE(ping.has_value());
        CHECK(*ping == PingRequest{a, endpoint(1)});
        CHECK_FALSE(t.on_heard_of(t0 + 1min, a, endpoint(1)));     // pending: not twice
        CHECK_FALSE(t.on_heard_of(t0 + 1min, b, endpoint(2)));     // b has no failures
        CHECK_FALSE(t.on_heard_of(t0 + 1min, a, endpoint(1, 7)));  // not from another endpoint
    }
}

TEST_CASE("failing contacts are rechecked with backoff, and forgotten after forget_after",
          "[routing]") {
    SeededRandom rng(82);
    const NodeId self = NodeId::random(rng);
    RoutingConfig c;
    c.recheck_after = 1min;
    c.recheck_max = 5min;
    c.forget_after = 24h;
    RoutingTable t(self, c, t0);
    const NodeId a = id_with_cpl(self, 0, rng);
    const NodeId b = id_with_cpl(self, 1, rng);
    t.on_answered(t0, a, endpoint(1), 10ms);
    t.on_answered(t0, b, endpoint(2), 10ms);
    std::vector<PingRequest> out;
    CHECK(t.recheck(t0, out) == TimePoint::max());  // nobody failing
    CHECK(out.empty());

    t.on_failed(t0 + 10s, a, endpoint(1));
    CHECK(t.failures_counted() == 1);
    // Pinged 1, 3, 7, 12, 17, ... minutes after its last answer (the step doubles up to 5).
    std::vector<TimePoint> pinged;
    for (TimePoint now = t0; now < t0 + 30min; now += 10s) {
        out.clear();
        const TimePoint next = t.recheck(now, out);
        CHECK(next > now);
        for (const PingRequest& p : out) {
            CHECK(p == PingRequest{a, endpoint(1)});
            pinged.push_back(now);
            CHECK_FALSE(t.on_failed(now + 2s, a, endpoint(1)));  // no answer
        }
    }
    CHECK(pinged == std::vector<TimePoint>{t0 + 1min, t0 + 3min, t0 + 7min, t0 + 12min, t0 + 17min,
                                           t0 + 22min, t0 + 27min});
    REQUIRE(t.contains(a));

    SECTION("an answer starts the schedule again") {
        t.on_answered(t0 + 30min, a, endpoint(1), 10ms);
        t.on_failed(t0 + 30min + 10s, a, endpoint(1));
        out.clear();
        CHECK(t.recheck(t0 + 30min + 20s, out) == t0 + 31min);  // a minute after its answer
        CHECK(out.empty());
        t.recheck(t0 + 31min, out);
        CHECK(out.size() == 1);
    }
    SECTION("silent for forget_after, it is gone at the next recheck") {
        out.clear();
        t.recheck(t0 + 24h - 1s, out);
        CHECK(t.contains(a));
        out.clear();
        t.recheck(t0 + 24h, out);
        CHECK_FALSE(t.contains(a));
        CHECK(t.contains(b));
        CHECK(out.empty());
        CHECK(t.recheck(t0 + 24h, out) == TimePoint::max());
        check_invariants(t);
    }
}

TEST_CASE("a contact past max_failures does not count as a nearer holder", "[routing]") {
    SeededRandom rng(83);
    const NodeId self = NodeId::random(rng);
    RoutingTable t(self, RoutingConfig{}, t0);
    const NodeId target = self.with_bit_flipped(100);
    const NodeId other = id_with_cpl(self, 0, rng);
    t.on_answered(t0, target, endpoint(1), 10ms);  // as near the target as can be
    CHECK_FALSE(t.self_is_nearest(target, other));
    t.on_failed(t0, target, endpoint(1));
    CHECK_FALSE(t.self_is_nearest(target, other));  // one lost datagram: still there
    t.on_failed(t0, target, endpoint(1));
    REQUIRE(t.contains(target));  // nothing replaces it
    // The maintenance's hand-off rule: we hand items to newcomers ourselves, rather than leave
    // it to a node that has stopped answering.
    CHECK(t.self_is_nearest(target, other));
}
