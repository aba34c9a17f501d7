// Listeners on their own (kad/listeners.hpp): who is told of a new version, for how long, and
// the bounds.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/listeners.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

krpc::NodeInfo watcher(int n, const char* at) {
    return {id_from(n), ep(at)};
}

}  // namespace

TEST_CASE("a listener is told of each newer version once, and never of what it has seen",
          "[listeners]") {
    Listeners l(ListenerConfig{});
    const NodeId target = NodeId::from_key("k");
    const TimePoint now{};
    const auto a = watcher(1, "10.0.0.1:1000");
    const auto b = watcher(2, "10.0.0.2:1000");
    // a knows seq 3 (its listen says so); b knows of no version.
    CHECK(l.add(target, {a, "t", std::nullopt, 3}, now) == Listeners::Added::New);
    CHECK(l.add(target, {b, "t", std::nullopt, std::nullopt}, now) == Listeners::Added::New);
    CHECK(l.size() == 2);

    const Endpoint writer = ep("10.0.0.9:1000");
    // A refresh of seq 3: only b, which had seen nothing, is told.
    auto told = l.take_newer(target, 3, writer, now + 1s);
    REQUIRE(told.size() == 1);
    CHECK(told[0].who == b);
    CHECK(told[0].tag == "t");
    // Seq 4: both, once.
    CHECK(l.take_newer(target, 4, writer, now + 2s).size() == 2);
    CHECK(l.take_newer(target, 4, writer, now + 3s).empty());
    // Seq 5 written by a itself: a knows; b is told.
    told = l.take_newer(target, 5, a.endpoint, now + 4s);
    REQUIRE(told.size() == 1);
    CHECK(told[0].who == b);
    CHECK(l.take_newer(target, 6, writer, now + 5s).size() == 2);
    // Another key's listeners are not this key's.
    CHECK(l.take_newer(NodeId::from_key("other"), 9, writer, now + 5s).empty());
}

TEST_CASE("a listen lasts its ttl, cut to the most, and a listen again renews it", "[listeners]") {
    ListenerConfig c;
    c.default_ttl = 2min;
    c.max_ttl = 10min;
    Listeners l(c);
    const NodeId target = NodeId::from_key("k");
    const TimePoint now{};
    const auto a = watcher(1, "10.0.0.1:1000");
    const auto b = watcher(2, "10.0.0.2:1000");
    CHECK(l.add(target, {a, "t", std::nullopt, std::nullopt}, now) == Listeners::Added::New);
    CHECK(l.add(target, {b, "t", std::chrono::hours(5), std::nullopt}, now) ==
          Listeners::Added::New);
    CHECK(l.next_expiry() == now + 2min);
    CHECK(l.of(target, now + 2min - 1s).size() == 2);
    CHECK(l.of(target, now + 2min).size() == 1);  // a's has run out; b's was cut to 10 min
    // a listens again before the sweep: renewed, not a second listener.
    CHECK(l.add(target, {a, "t", 3min, std::nullopt}, now + 1min) == Listeners::Added::Renewed);
    CHECK(l.size() == 2);
    l.expire(now + 2min);
    CHECK(l.size() == 2);
    CHECK(l.of(target, now + 4min - 1s).size() == 2);
    l.expire(now + 4min);
    CHECK(l.size() == 1);
    CHECK(l.take_newer(target, 1, {}, now + 4min).size() == 1);
    l.expire(now + 10min);
    CHECK(l.size() == 0);
    CHECK(l.next_expiry() == TimePoint::max());
    CHECK(l.take_newer(target, 2, {}, now + 10min).empty());
}

TEST_CASE("listeners are bounded in all and per source; a refusal frees its place", "[listeners]") {
    ListenerConfig c;
    c.max = 4;
    c.per_source = 2;
    Listeners l(c);
    const TimePoint now{};
    const auto a = watcher(1, "10.0.0.1:1000");
    CHECK(l.add(NodeId::from_key("1"), {a, "t", std::nullopt, std::nullopt}, now) ==
          Listeners::Added::New);
    CHECK(l.add(NodeId::from_key("2"), {a, "t", std::nullopt, std::nullopt}, now) ==
          Listeners::Added::New);
    // A third key from the same address, even at another port: its share is full.
    CHECK(l.add(NodeId::from_key("3"),
                {watcher(3, "10.0.0.1:2000"), "t", std::nullopt, std::nullopt},
                now) == Listeners::Added::SourceFull);
    // A renewal is not a new listener.
    CHECK(l.add(NodeId::from_key("2"), {a, "t", std::nullopt, std::nullopt}, now) ==
          Listeners::Added::Renewed);
    CHECK(l.add(NodeId::from_key("3"),
                {watcher(4, "10.0.0.4:1000"), "t", std::nullopt, std::nullopt},
                now) == Listeners::Added::New);
    CHECK(l.add(NodeId::from_key("3"),
                {watcher(5, "10.0.0.5:1000"), "t", std::nullopt, std::nullopt},
                now) == Listeners::Added::New);
    CHECK(l.add(NodeId::from_key("3"),
                {watcher(6, "10.0.0.6:1000"), "t", std::nullopt, std::nullopt},
                now) == Listeners::Added::Full);
    CHECK(l.size() == l.capacity());
    // The watcher said it no longer watches: its place is free.
    CHECK(l.remove(NodeId::from_key("3"), ep("10.0.0.5:1000")));
    CHECK_FALSE(l.remove(NodeId::from_key("3"), ep("10.0.0.5:1000")));
    CHECK(l.add(NodeId::from_key("3"),
                {watcher(6, "10.0.0.6:1000"), "t", std::nullopt, std::nullopt},
                now) == Listeners::Added::New);
    // Lapsed listeners make room too.
    CHECK(l.add(NodeId::from_key("4"),
                {watcher(7, "10.0.0.7:1000"), "t", std::nullopt, std::nullopt},
                now + 1h) == Listeners::Added::New);
    CHECK(l.size() == 1);
}

TEST_CASE("each notify carries the tag of the listen it answers; a renewal takes the new tag",
          "[listeners]") {
    Listeners l(ListenerConfig{});
    const NodeId target = NodeId::from_key("k");
    const TimePoint now{};
    const auto a = watcher(1, "10.0.0.1:1000");
    REQUIRE(l.add(target, {a, "first", std::nullopt, std::nullopt}, now) == Listeners::Added::New);
    auto told = l.take_newer(target, 1, {}, now);
    REQUIRE(told.size() == 1);
    CHECK(told[0].tag == "first");
    // Renewed, knowing seq 4: told of 5, not of 4, with the tag it gave last.
    REQUIRE(l.add(target, {a, "second", std::nullopt, 4}, now + 1s) == Listeners::Added::Renewed);
    CHECK(l.take_newer(target, 4, {}, now + 2s).empty());
    told = l.take_newer(target, 5, {}, now + 2s);
    REQUIRE(told.size() == 1);
    CHECK(told[0].tag == "second");
}
