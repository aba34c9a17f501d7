// Maintenance's policy and schedule, with no network at all: a routing table and a storage
// filled by hand, time passed in, and a recorder in place of the operations that would do the
// work.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/maintenance.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

struct Recorder final : Maintenance::Actions {
    struct Republish {
        std::string key;
        Duration ttl;
    };
    struct HandOff {
        std::string key;
        Duration ttl;
        NodeId to;
    };
    std::vector<NodeId> refreshes;
    std::vector<Republish> republishes;
    std::vector<HandOff> handoffs;
    std::vector<PingRequest> pings;

    bool refresh(const NodeId& target) override {
        refreshes.push_back(target);
        return true;
    }
    bool republish(const StoredItem& item, Duration ttl) override {
        republishes.push_back({item.key, ttl});
        return true;
    }
    void hand_off(const StoredItem& item, Duration ttl, const NodeId& to,
                  const Endpoint&) override {
        handoffs.push_back({item.key, ttl, to});
    }
    void ping(const PingRequest& request) override { pings.push_back(request); }
};

NodeConfig small_k() {
    NodeConfig c;
    c.k = 4;
    c.routing.k = 4;
    return c;
}

struct MaintenanceFixture {
    NodeConfig config;
    NodeId self = id_from(1);
    TimePoint now{};
    RoutingTable table;
    Storage storage;
    SeededRandom rng{11};
    NodeStats stats;
    Recorder actions;
    Maintenance m;

    explicit MaintenanceFixture(NodeConfig c = small_k())
        : config(c),
          table(self, config.routing, now),
          storage(config.storage),
          m(config, now, table, storage, rng, stats, actions) {}

    // A peer's store of `key`, as the query handler makes it.
    NodeId held(const std::string& key, Duration ttl = 24h) {
        REQUIRE(accepted(storage.store(
            now, {.key = key, .value = "v", .seq = 1, .ttl = ttl, .source = ep("10.9.9.9:1")})));
        m.on_stored(NodeId::from_key(key));
        return NodeId::from_key(key);
    }
    // Our own put of `key`.
    NodeId ours(const std::string& key, Duration ttl) {
        REQUIRE(accepted(storage.store(now, {.key = key, .value = "v", .ttl = ttl, .ours = true})));
        m.on_published(NodeId::from_key(key));
        return NodeId::from_key(key);
    }
    // A contact that answered us, with an ID `bits` bits from `near` (159: the nearest there is).
    void contact(const NodeId& near, int bit, std::uint8_t host) {
        table.on_answered(now, near.with_bit_flipped(bit), Endpoint::v4({10, 0, 0, host}, 1), 1ms);
    }
};

}  // namespace

TEST_CASE("a held item is republished an interval after it was stored, with the life it has",
          "[maintenance]") {
    MaintenanceFixture f;
    const NodeId t = f.held("held");
    const auto due = f.m.due(t);
    REQUIRE(due);
    CHECK(*due >= f.now + 1h);
    CHECK(*due <= f.now + 66min);  // 10% jitter at most
    CHECK(f.m.next_due() <= *due);
    f.now = *due - 1s;
    f.m.run();
    CHECK(f.actions.republishes.empty());
    f.now = *due;
    f.m.run();
    REQUIRE(f.actions.republishes.size() == 1);
    CHECK(f.actions.republishes[0].key == "held");
    CHECK(f.actions.republishes[0].ttl == f.storage.find(t)->expires - f.now);
    CHECK(f.stats.republished == 1);
    CHECK(f.m.republishing() == 1);
    CHECK(*f.m.due(t) >= f.now + 1h);  // the next one
    f.m.republish_done(t, 3, false);
    CHECK(f.m.republishing() == 0);
    CHECK(f.stats.republish_stores == 3);
    CHECK(f.m.due(t));  // not displaced: still ours to republish
}

TEST_CASE("a store to us pushes our republish back: one holder republishes for all",
          "[maintenance]") {
    MaintenanceFixture f;
    const NodeId t = f.held("held");
    const TimePoint first = *f.m.due(t);
    f.now += 50min;
    f.held("held");  // another holder republished it to us
    CHECK(*f.m.due(t) >= f.now + 1h);
    f.now = first;
    f.m.run();
    CHECK(f.actions.republishes.empty());
}

TEST_CASE("the publisher refreshes its item after 3/4 of its TTL, with a fresh life",
          "[maintenance]") {
    MaintenanceFixture f;
    const NodeId t = f.ours("mine", 10min);
    REQUIRE(f.m.due(t));
    CHECK(*f.m.due(t) == f.now + 7min + 30s);
    // A peer storing it to us changes nothing: it is ours.
    REQUIRE(accepted(f.storage.store(
        f.now + 1min, {.key = "mine", .value = "v", .ttl = 10min, .source = ep("10.9.9.9:1")})));
    f.m.on_stored(t);
    CHECK(*f.m.due(t) == f.now + 7min + 30s);
    f.now += 7min + 30s;
    f.m.run();
    REQUIRE(f.actions.republishes.size() == 1);
    CHECK(f.actions.republishes[0].ttl == 10min);
    CHECK(f.stats.refreshed_originals == 1);
    CHECK(f.storage.find(t)->expires == f.now + 10min);  // our own copy too
    CHECK(*f.m.due(t) == f.now + 7min + 30s);
    // A republish that finds nearer nodes never retires our own item.
    f.m.republish_done(t, 4, true);
    CHECK(f.m.due(t));
}

TEST_CASE("a holder that knows k contacts nearer the key stops republishing it", "[maintenance]") {
    MaintenanceFixture f;
    const NodeId t = f.held("crowded");
    for (int i = 0; i < 4; ++i) f.contact(t, 159 - i, static_cast<std::uint8_t>(i + 1));
    REQUIRE(f.table.count_nearer_than_self(t) == 4);
    f.now = *f.m.due(t);
    f.m.run();
    CHECK(f.actions.republishes.empty());
    CHECK_FALSE(f.m.due(t));
    CHECK(f.stats.republish_retired == 1);
    CHECK(f.storage.find(t));  // the copy stays until it expires
    // Stored to us again, it is ours to republish again.
    f.held("crowded");
    CHECK(f.m.due(t));
}

TEST_CASE("a republish that finds k nearer nodes retires the item", "[maintenance]") {
    MaintenanceFixture f;
    const NodeId t = f.held("displaced");
    f.now = *f.m.due(t);
    f.m.run();
    REQUIRE(f.actions.republishes.size() == 1);
    f.m.republish_done(t, 4, true);
    CHECK_FALSE(f.m.due(t));
    CHECK(f.stats.republish_retired == 1);
    CHECK(f.stats.republish_stores == 4);
}

TEST_CASE("at most max_republishes run at once; the rest wait and are counted", "[maintenance]") {
    NodeConfig c = small_k();
    c.max_republishes = 2;
    MaintenanceFixture f(c);
    std::vector<NodeId> ts;
    for (int i = 0; i < 5; ++i) ts.push_back(f.held("k" + std::to_string(i)));
    f.now += 2h;
    f.m.run();
    CHECK(f.actions.republishes.size() == 2);
    CHECK(f.stats.republishes_deferred == 3);
    f.m.run();  // nothing frees a slot, and the next look is a republish_check away
    CHECK(f.actions.republishes.size() == 2);
    for (const auto& r : f.actions.republishes)
        f.m.republish_done(NodeId::from_key(r.key), 1, false);
    CHECK(f.m.next_due() == f.now + c.republish_check);
    f.now += c.republish_check;
    f.m.run();
    CHECK(f.actions.republishes.size() == 4);
    CHECK(f.stats.republishes_deferred == 4);
}

TEST_CASE("an item that leaves the store leaves the schedule", "[maintenance]") {
    MaintenanceFixture f;
    const NodeId a = f.held("erased");
    const NodeId b = f.held("expires", 30min);
    REQUIRE(f.m.due(a));
    REQUIRE(f.m.due(b));
    f.storage.erase(a);
    CHECK_FALSE(f.m.due(a));
    f.storage.expire(f.now + 30min);
    CHECK_FALSE(f.m.due(b));
    CHECK(f.m.next_due() == f.table.next_refresh(f.config.bucket_refresh));
}

TEST_CASE("restored items are scheduled: ours for a refresh, others for a republish",
          "[maintenance]") {
    MaintenanceFixture f;
    StoredItem mine;
    mine.key = "mine";
    mine.value = "v";
    mine.expires = f.now + 1h;
    mine.ttl = 2h;
    mine.original = true;
    mine.published_at = f.now - 1h;
    REQUIRE(f.storage.restore(mine) == StoreResult::Stored);
    f.m.on_restored(NodeId::from_key("mine"));
    CHECK(*f.m.due(NodeId::from_key("mine")) == f.now + 30min);  // 3/4 of 2 h after publishing
    StoredItem theirs = mine;
    theirs.key = "theirs";
    theirs.original = false;
    REQUIRE(f.storage.restore(theirs) == StoreResult::Stored);
    f.m.on_restored(NodeId::from_key("theirs"));
    CHECK(*f.m.due(NodeId::from_key("theirs")) >= f.now + 1h);
}

TEST_CASE("a newcomer among an item's k nearest receives it from the nearest holder only",
          "[maintenance]") {
    MaintenanceFixture f;
    const NodeId t = f.held("handed");
    // We know nobody nearer the key: the newcomer, right beside it, gets the item.
    const NodeId newcomer = t.with_bit_flipped(159);
    f.table.on_answered(f.now, newcomer, ep("10.0.0.50:1"), 1ms);
    f.m.on_new_contact(newcomer, ep("10.0.0.50:1"));
    REQUIRE(f.actions.handoffs.size() == 1);
    CHECK(f.actions.handoffs[0].key == "handed");
    CHECK(f.actions.handoffs[0].to == newcomer);
    CHECK(f.actions.handoffs[0].ttl == f.storage.find(t)->expires - f.now);
    CHECK(f.stats.handoffs == 1);
    CHECK(f.m.handoffs() == 1);
    f.m.hand_off_done(true);
    CHECK(f.m.handoffs() == 0);
    CHECK(f.stats.handoff_stores == 1);
    // Now that contact is nearer the key than we are: the next newcomer is its to serve.
    const NodeId second = t.with_bit_flipped(158);
    f.table.on_answered(f.now, second, ep("10.0.0.51:1"), 1ms);
    f.m.on_new_contact(second, ep("10.0.0.51:1"));
    CHECK(f.actions.handoffs.size() == 1);
}

TEST_CASE("hand-offs past max_handoffs are skipped and counted; handoff off hands nothing",
          "[maintenance]") {
    NodeConfig c = small_k();
    c.max_handoffs = 1;
    MaintenanceFixture f(c);
    const NodeId a = f.held("a");
    f.held("b");
    const NodeId newcomer = a.with_bit_flipped(0);  // far from both keys, but the table is empty
    f.table.on_answered(f.now, newcomer, ep("10.0.0.50:1"), 1ms);
    f.m.on_new_contact(newcomer, ep("10.0.0.50:1"));
    CHECK(f.actions.handoffs.size() == 1);
    CHECK(f.stats.handoffs_skipped == 1);

    NodeConfig off = small_k();
    off.handoff = false;
    MaintenanceFixture g(off);
    g.held("a");
    g.table.on_answered(g.now, newcomer, ep("10.0.0.50:1"), 1ms);
    g.m.on_new_contact(newcomer, ep("10.0.0.50:1"));
    CHECK(g.actions.handoffs.empty());
}

TEST_CASE("a bucket untouched for bucket_refresh is refreshed with a lookup in its range",
          "[maintenance]") {
    MaintenanceFixture f;
    f.contact(f.self, 3, 1);
    CHECK(f.m.next_due() == f.now + f.config.bucket_refresh);
    f.now += f.config.bucket_refresh;
    f.m.run();
    REQUIRE_FALSE(f.actions.refreshes.empty());
    CHECK(f.stats.bucket_refreshes == f.actions.refreshes.size());
    CHECK(f.m.next_due() > f.now);  // touched: not again at once
}

TEST_CASE("a failing contact is pinged again, backing off; a failure wakes the node for it",
          "[maintenance]") {
    MaintenanceFixture f;
    f.contact(f.self, 3, 1);
    const NodeId x = f.self.with_bit_flipped(3);
    const Endpoint at = Endpoint::v4({10, 0, 0, 1}, 1);
    CHECK(f.m.next_due() == f.now + f.config.bucket_refresh);  // nobody failing: no rechecks
    f.now += 30s;
    f.table.on_failed(f.now, x, at);
    CHECK(f.m.next_due() <= f.now);  // a failure: look at once
    f.m.run();
    CHECK(f.actions.pings.empty());
    CHECK(f.m.next_due() == TimePoint{} + 1min);  // a minute after its last answer
    f.now = TimePoint{} + 1min;
    f.m.run();
    REQUIRE(f.actions.pings.size() == 1);
    CHECK(f.actions.pings[0] == PingRequest{x, at});
    CHECK(f.stats.rechecks == 1);
    f.now += 2s;
    f.table.on_failed(f.now, x, at);  // no answer to it either
    f.m.run();
    CHECK(f.actions.pings.size() == 1);
    CHECK(f.m.next_due() == TimePoint{} + 3min);  // then 2 minutes later
}

TEST_CASE("a contact back after being cut off refreshes sparse buckets at once, backing off",
          "[maintenance]") {
    MaintenanceFixture f;
    for (int bit = 0; bit < 6; ++bit) f.contact(f.self, bit, static_cast<std::uint8_t>(bit + 1));
    REQUIRE(f.table.bucket_count() > 1);
    const NodeId x = f.self.with_bit_flipped(0);
    const Endpoint at = Endpoint::v4({10, 0, 0, 1}, 1);
    // x misses two queries, and answers again after a minute and a half.
    auto recover = [&] {
        f.table.on_failed(f.now, x, at);
        f.table.on_failed(f.now, x, at);
        f.now += 90s;
        f.table.on_answered(f.now, x, at, 1ms);
    };
    recover();
    CHECK(f.table.recoveries() == 1);
    CHECK(f.m.next_due() <= f.now);
    f.m.run();
    CHECK(f.stats.early_refreshes == 1);
    // Our own ID, and a target in each bucket below the last (all have fewer than k here).
    REQUIRE(f.actions.refreshes.size() == f.table.bucket_count());
    CHECK(f.actions.refreshes[0] == f.self);
    for (std::size_t i = 1; i < f.actions.refreshes.size(); ++i) {
        CHECK(f.table.bucket_index(f.actions.refreshes[i]) == i - 1);
    }
    CHECK(f.stats.bucket_refreshes == f.actions.refreshes.size());

    recover();  // 90 s later: past the minute since the first
    f.m.run();
    CHECK(f.stats.early_refreshes == 2);
    recover();  // 90 s later: within the 2 minutes since the second; it waits for them
    const TimePoint allowed = f.now + 30s;
    f.m.run();
    CHECK(f.stats.early_refreshes == 2);
    CHECK(f.m.next_due() == allowed);
    f.now = allowed;
    f.m.run();
    CHECK(f.stats.early_refreshes == 3);
    CHECK(f.m.next_due() > f.now);  // nothing new: no more until the next recovery

    // A quiet spell (past the next gap, 8 minutes): the next recovery acts at once, and the
    // one after waits a minute again.
    f.now += 20min;
    recover();
    f.m.run();
    CHECK(f.stats.early_refreshes == 4);
    recover();
    f.m.run();
    CHECK(f.stats.early_refreshes == 5);
}
