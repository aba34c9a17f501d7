// ItemRefresh: the BEP 44 items a node put are put again before they expire, with no network:
// an item store filled by hand, time passed in, and a recorder in place of the puts.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/bep44.hpp"
#include "kad/item_refresh.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

struct PutRecorder final : ItemRefresh::Actions {
    std::vector<NodeId> puts;
    bool put_again(const StoredItem& item) override {
        puts.push_back(item.target);
        return true;
    }
};

struct RefreshFixture {
    explicit RefreshFixture(NodeConfig c = {}) : config(std::move(c)) {}
    NodeConfig config;
    TimePoint now{};
    Storage items{config.storage};
    NodeStats stats;
    PutRecorder actions;
    ItemRefresh refresh{config, now, items, stats, actions};

    // An immutable item in the store: ours (a put of this node) or a peer's.
    NodeId item(const std::string& value, bool ours) {
        const NodeId target = bep44::immutable_target(value);
        REQUIRE(accepted(items.store(now, {.value = value,
                                           .ttl = config.item_ttl,
                                           .ours = ours,
                                           .source = ours ? Endpoint{} : ep("10.9.9.9:1"),
                                           .target = target})));
        if (ours) refresh.on_published(target);
        return target;
    }
    Duration every() const {
        return std::chrono::duration_cast<Duration>(config.item_ttl * config.publisher_refresh);
    }
    void at(TimePoint t) {
        now = t;
        if (refresh.next_due() <= now) refresh.run();
    }
};

}  // namespace

TEST_CASE("ItemRefresh puts our items again before they expire, and nobody else's",
          "[item_refresh]") {
    RefreshFixture f;
    const NodeId ours = f.item("3:ours", true);
    f.item("6:theirs", false);
    REQUIRE(f.refresh.size() == 1);
    CHECK(f.refresh.due(ours) == TimePoint{} + f.every());
    CHECK(f.every() < f.config.item_ttl);  // before the storing nodes drop it
    CHECK(f.refresh.next_due() == TimePoint{} + f.every());
    f.at(TimePoint{} + f.every() - 1s);
    CHECK(f.actions.puts.empty());
    f.at(TimePoint{} + f.every());
    CHECK(f.actions.puts == std::vector<NodeId>{ours});
    CHECK(f.refresh.running() == 1);
    CHECK(f.stats.items_refreshed == 0);  // counted once stored
    // Stored again: the next one an interval after this put.
    f.refresh.on_published(ours);
    f.refresh.done(ours, ItemRefresh::Outcome::Stored);
    CHECK(f.stats.items_refreshed == 1);
    CHECK(f.refresh.running() == 0);
    CHECK(f.refresh.due(ours) == f.now + f.every());
    CHECK(f.items.find(ours)->published_at == f.now);
}

TEST_CASE("ItemRefresh tries a failed put again soon, and stops when superseded",
          "[item_refresh]") {
    RefreshFixture f;
    const NodeId a = f.item("1:a", true);
    f.at(TimePoint{} + f.every());
    REQUIRE(f.actions.puts.size() == 1);
    f.refresh.done(a, ItemRefresh::Outcome::Failed);  // no contacts, nobody answered
    CHECK(f.refresh.due(a) == f.now + ItemRefresh::kRetry);
    f.at(f.now + ItemRefresh::kRetry);
    CHECK(f.actions.puts.size() == 2);
    // Refused by every node that answered (their limits): not again for a whole interval.
    f.refresh.done(a, ItemRefresh::Outcome::Refused);
    CHECK(f.refresh.due(a) == f.now + f.every());
    f.at(f.now + f.every());
    CHECK(f.actions.puts.size() == 3);
    f.refresh.done(a, ItemRefresh::Outcome::Superseded);
    CHECK_FALSE(f.refresh.due(a));
    CHECK_FALSE(f.items.find(a)->original);  // kept until it expires, no longer ours
    CHECK(f.stats.items_superseded == 1);
    f.at(f.now + 10 * f.every());
    CHECK(f.actions.puts.size() == 3);
    CHECK(f.stats.items_refreshed == 0);
}

TEST_CASE("ItemRefresh stops when another writer's newer version replaces ours in the store",
          "[item_refresh]") {
    RefreshFixture f;
    const std::string key = std::string(32, 'k');  // a mutable item: public key, no salt
    const NodeId target = NodeId::from_key(key);
    REQUIRE(accepted(f.items.store(f.now, {.key = key,
                                           .value = "1:a",
                                           .seq = 1,
                                           .ours = true,
                                           .target = target,
                                           .signature = std::string(64, 's')})));
    f.refresh.on_published(target);
    REQUIRE(f.refresh.due(target));
    // A put of seq 2 from a peer (the same key, used elsewhere): theirs now, not ours.
    REQUIRE(f.items.store(f.now, {.key = key,
                                  .value = "1:b",
                                  .seq = 2,
                                  .source = ep("10.9.9.9:1"),
                                  .target = target,
                                  .signature = std::string(64, 't')}) == StoreResult::Updated);
    CHECK_FALSE(f.items.find(target)->original);
    f.at(TimePoint{} + f.every());
    CHECK(f.actions.puts.empty());
    CHECK_FALSE(f.refresh.due(target));
}

TEST_CASE("ItemRefresh forgets items that leave the store, and restores ours from a state file",
          "[item_refresh]") {
    RefreshFixture f;
    const NodeId a = f.item("1:a", true);
    f.items.erase(a);
    CHECK(f.refresh.size() == 0);
    CHECK(f.refresh.next_due() == TimePoint::max());
    // Restored items: ours continue from when we last put them; others' are not ours to put.
    StoredItem mine;
    mine.value = "4:mine";
    mine.target = bep44::immutable_target(mine.value);
    mine.expires = f.now + 1h;
    mine.original = true;
    mine.published_at = f.now - 1h;
    StoredItem other = mine;
    other.value = "5:other";
    other.target = bep44::immutable_target(other.value);
    other.original = false;
    REQUIRE(f.items.restore(mine, mine.target) == StoreResult::Stored);
    REQUIRE(f.items.restore(other, other.target) == StoreResult::Stored);
    f.refresh.on_restored(mine.target);
    f.refresh.on_restored(other.target);
    CHECK(f.refresh.size() == 1);
    CHECK(f.refresh.due(mine.target) == f.now - 1h + f.every());
}

TEST_CASE("ItemRefresh runs at most max_republishes puts at once", "[item_refresh]") {
    NodeConfig c;
    c.max_republishes = 2;
    RefreshFixture f(c);
    for (int i = 0; i < 5; ++i) f.item("1:" + std::to_string(i), true);
    f.at(TimePoint{} + f.every());
    CHECK(f.actions.puts.size() == 2);
    CHECK(f.refresh.running() == 2);
    // The others wait: tried again a moment later, not forgotten.
    CHECK(f.refresh.size() == 5);
    CHECK(f.refresh.next_due() == f.now + c.republish_check);
}
