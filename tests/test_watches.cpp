// Watches on its own (kad/watches.hpp): the schedule of rounds, the holders that listen, what is
// reported and when.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/watches.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

WatchRoundResult found(const std::string& key, const std::string& value, std::int64_t seq,
                       std::vector<krpc::NodeInfo> listening = {}) {
    WatchRoundResult r;
    r.ok = true;
    r.item = krpc::Item{key, value, seq};
    r.from = {id_from(7), ep("10.0.0.7:1")};
    r.listening = std::move(listening);
    return r;
}

StoredItem stored_item(const std::string& key, const std::string& value, std::int64_t seq) {
    StoredItem s;
    s.key = key;
    s.value = value;
    s.seq = seq;
    s.target = NodeId::from_key(key);
    return s;
}

}  // namespace

TEST_CASE("a watch gets at once, then every interval; each newer version is reported once",
          "[watches]") {
    Watches w(30s, 4);
    TimePoint now{};
    std::vector<WatchEvent> events;
    const auto id = w.add(
        "k", "t", [&](const WatchEvent& e) { events.push_back(e); }, now);
    REQUIRE(id);
    CHECK(w.next_due() == now);
    auto due = w.take_due(now);
    REQUIRE(due.size() == 1);
    CHECK(due[0] == Watches::Due{*id, "k", "t", std::nullopt});
    CHECK(w.take_due(now).empty());           // running: not again
    CHECK(w.next_due() == TimePoint::max());  // until it ends

    w.polled(*id, found("k", "v0", 0), now);
    REQUIRE(events.size() == 1);
    CHECK(events[0].item.value == "v0");
    CHECK_FALSE(events[0].here);
    CHECK(w.next_due() == now + 30s);

    now += 30s;
    REQUIRE(w.take_due(now).size() == 1);
    w.polled(*id, found("k", "v0", 0), now);  // the same version: nothing
    CHECK(events.size() == 1);

    // Stored here: reported at deliver(), not inside stored().
    w.stored(stored_item("k", "v1", 1), {id_from(1), {}});
    CHECK(events.size() == 1);
    CHECK(w.next_due() == TimePoint::min());
    w.deliver();
    REQUIRE(events.size() == 2);
    CHECK(events[1].item.seq == 1);
    CHECK(events[1].here);
    // A get that finds it afterwards does not report it again; an older one never.
    now += 30s;
    REQUIRE(w.take_due(now).size() == 1);
    w.polled(*id, found("k", "v1", 1), now);
    w.stored(stored_item("k", "v0", 0), {id_from(1), {}});
    w.deliver();
    CHECK(events.size() == 2);
    // Another key's store is not this watch's.
    w.stored(stored_item("other", "x", 5), {id_from(1), {}});
    w.deliver();
    CHECK(events.size() == 2);
}

TEST_CASE("an unwatched key reports nothing more, and the watches are bounded", "[watches]") {
    Watches w(30s, 2);
    TimePoint now{};
    int events = 0;
    auto count = [&](const WatchEvent&) { ++events; };
    const auto a = w.add("a", "t", count, now);
    const auto b = w.add("b", "t", count, now);
    REQUIRE(a);
    REQUIRE(b);
    CHECK_FALSE(w.add("c", "t", count, now));  // two at most
    REQUIRE(w.take_due(now).size() == 2);
    w.stored(stored_item("a", "v", 0), {id_from(1), {}});
    CHECK(w.remove(*a));
    CHECK_FALSE(w.remove(*a));
    w.deliver();                            // its pending event went with it
    w.polled(*a, found("a", "v", 0), now);  // its round ended after: nothing
    CHECK(events == 0);
    CHECK(w.size() == 1);
    CHECK(w.add("c", "t", count, now));  // room again
    // A callback may unwatch itself.
    Watches self(30s, 2);
    std::optional<WatchId> me;
    me = self.add(
        "s", "t", [&](const WatchEvent&) { self.remove(*me); }, now);
    REQUIRE(self.take_due(now).size() == 1);
    self.polled(*me, found("s", "v", 0), now);
    CHECK(self.size() == 0);
}

TEST_CASE("a holder that listens for a watch is believed until its listen lapses; others are not",
          "[watches]") {
    Watches w(30s, 4);
    TimePoint now{};
    std::vector<WatchEvent> events;
    const auto id = w.add(
        "k", "t", [&](const WatchEvent& e) { events.push_back(e); }, now);
    REQUIRE(id);
    REQUIRE(w.take_due(now).size() == 1);
    const krpc::NodeInfo holder{id_from(7), ep("10.0.0.7:1")};
    const krpc::NodeInfo stranger{id_from(8), ep("10.0.0.8:1")};
    w.asked(*id, {holder}, now, 90s);
    // A notify may come before the round ends: the holder counts from when it was asked.
    CHECK(w.listening(*id, now) == 1);
    w.polled(*id, found("k", "v0", 0, {holder}), now);
    REQUIRE(events.size() == 1);
    CHECK(w.listening(*id, now) == 1);

    // A notify from the holder: reported at deliver(), marked as pushed.
    CHECK(w.notified(holder, "t", {"k", "v1", 1}, now + 1s));
    CHECK(events.size() == 1);
    w.deliver();
    REQUIRE(events.size() == 2);
    CHECK(events[1].item.seq == 1);
    CHECK(events[1].pushed);
    CHECK_FALSE(events[1].here);
    CHECK(events[1].from == holder);
    // The same version again, or an older one: still listened to, nothing reported.
    CHECK(w.notified(holder, "t", {"k", "v0", 0}, now + 2s));
    w.deliver();
    CHECK(events.size() == 2);

    // Not a holder of ours, another tag (a forger who did not see our listen), or a key we do
    // not watch: refused, nothing reported.
    CHECK_FALSE(w.notified(stranger, "t", {"k", "v2", 2}, now + 3s));
    CHECK_FALSE(w.notified(holder, "x", {"k", "v2", 2}, now + 3s));
    CHECK_FALSE(w.notified(holder, "t", {"other", "x", 9}, now + 3s));
    w.deliver();
    CHECK(events.size() == 2);

    // Past the listen's end, the holder is a stranger too, until a round renews it.
    CHECK_FALSE(w.notified(holder, "t", {"k", "v2", 2}, now + 90s));
    CHECK(w.listening(*id, now + 90s) == 0);
    now += 90s;
    REQUIRE(w.take_due(now).size() == 1);
    w.asked(*id, {holder}, now, 90s);
    w.polled(*id, found("k", "v1", 1, {holder}), now);
    CHECK(w.notified(holder, "t", {"k", "v2", 2}, now + 1s));
    w.deliver();
    REQUIRE(events.size() == 3);
    CHECK(events[2].item.seq == 2);

    // Unwatched: the holder is told to stop.
    CHECK(w.remove(*id));
    CHECK_FALSE(w.notified(holder, "t", {"k", "v3", 3}, now + 2s));
}

TEST_CASE("a round whose newest version is our own copy reports it as stored here", "[watches]") {
    Watches w(30s, 4);
    TimePoint now{};
    std::vector<WatchEvent> events;
    const auto id = w.add(
        "k", "t", [&](const WatchEvent& e) { events.push_back(e); }, now);
    REQUIRE(id);
    REQUIRE(w.take_due(now).size() == 1);
    WatchRoundResult r = found("k", "v0", 0);
    r.here = true;
    w.polled(*id, r, now);
    REQUIRE(events.size() == 1);
    CHECK(events[0].here);
    CHECK_FALSE(events[0].pushed);
}

TEST_CASE("holders asked that did not take the listen are not believed after the round",
          "[watches]") {
    Watches w(30s, 4);
    TimePoint now{};
    int events = 0;
    const auto id = w.add(
        "k", "t", [&](const WatchEvent&) { ++events; }, now);
    REQUIRE(id);
    const auto due = w.take_due(now);
    REQUIRE(due.size() == 1);
    CHECK(due[0].tag == "t");
    const krpc::NodeInfo took{id_from(7), ep("10.0.0.7:1")};
    const krpc::NodeInfo refused{id_from(8), ep("10.0.0.8:1")};
    w.asked(*id, {took, refused}, now, 90s);
    CHECK(w.listening(*id, now) == 2);
    WatchRoundResult r;
    r.ok = true;
    r.asked = {took, refused};
    r.listening = {took};
    w.polled(*id, r, now + 1s);
    CHECK(w.listening(*id, now + 1s) == 1);
    CHECK_FALSE(w.notified(refused, "t", {"k", "v", 1}, now + 2s));
    CHECK(w.notified(took, "t", {"k", "v", 1}, now + 2s));
    w.deliver();
    CHECK(events == 1);
    // The next round is due with the version reported, which its listens tell the holders.
    const auto next = w.take_due(now + 31s);
    REQUIRE(next.size() == 1);
    CHECK(next[0].reported == 1);
}
