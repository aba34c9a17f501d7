#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "kad/storage.hpp"

using kad::Endpoint;
using kad::NodeId;
using kad::Storage;
using kad::StorageConfig;
using kad::StoreResult;
using kad::TimePoint;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;
const Endpoint peer = Endpoint::v4({192, 0, 2, 1}, 6881);
const Endpoint other = Endpoint::v4({192, 0, 2, 2}, 6881);

const kad::StoredItem& get(const Storage& s, std::string_view key) {
    const kad::StoredItem* item = s.find(NodeId::from_key(key));
    REQUIRE(item != nullptr);
    return *item;
}

}  // namespace

TEST_CASE("Storage: store then find", "[storage]") {
    Storage s;
    CHECK(s.find(NodeId::from_key("k")) == nullptr);
    CHECK(s.store(t0, {.key = "k", .value = "v1", .seq = 1, .source = peer}) ==
          StoreResult::Stored);
    const auto& item = get(s, "k");
    CHECK(item.key == "k");
    CHECK(item.target == NodeId::from_key("k"));
    CHECK(item.value == "v1");
    CHECK(item.seq == 1);
    CHECK(item.expires == t0 + s.config().default_ttl);
    CHECK(item.stored_at == t0);
    CHECK_FALSE(item.original);
    CHECK(item.source == peer);
    CHECK(s.size() == 1);
    CHECK(s.bytes() == 3);
    CHECK(s.items().count(NodeId::from_key("k")) == 1);
    CHECK(s.find(NodeId::from_key("other")) == nullptr);
}

TEST_CASE("Storage: sequence numbers", "[storage]") {
    Storage s;
    REQUIRE(s.store(t0, {.key = "k", .value = "v5", .seq = 5, .ttl = 1h, .source = peer}) ==
            StoreResult::Stored);

    SECTION("a higher seq replaces") {
        CHECK(s.store(t0 + 1min,
                      {.key = "k", .value = "v6-longer", .seq = 6, .ttl = 1h, .source = other}) ==
              StoreResult::Updated);
        const auto& item = get(s, "k");
        CHECK(item.value == "v6-longer");
        CHECK(item.seq == 6);
        CHECK(item.source == other);
        CHECK(item.stored_at == t0 + 1min);
        CHECK(item.expires == t0 + 1min + 1h);
        CHECK(s.size() == 1);
        CHECK(s.bytes() == 1 + 9);
    }
    SECTION("a lower seq is refused and changes nothing") {
        CHECK(
            s.store(t0 + 1min, {.key = "k", .value = "v4", .seq = 4, .ttl = 2h, .source = other}) ==
            StoreResult::SeqTooLow);
        const auto& item = get(s, "k");
        CHECK(item.value == "v5");
        CHECK(item.seq == 5);
        CHECK(item.source == peer);
        CHECK(item.expires == t0 + 1h);
        CHECK(item.stored_at == t0);
    }
    SECTION("the same seq with another value is a conflict and changes nothing") {
        CHECK(s.store(t0 + 1min,
                      {.key = "k", .value = "other", .seq = 5, .ttl = 2h, .source = other}) ==
              StoreResult::SeqConflict);
        const auto& item = get(s, "k");
        CHECK(item.value == "v5");
        CHECK(item.expires == t0 + 1h);
        CHECK(item.source == peer);
    }
    SECTION("the same seq and value refreshes: expiry extended, never shortened") {
        CHECK(s.store(t0 + 30min,
                      {.key = "k", .value = "v5", .seq = 5, .ttl = 1h, .source = other}) ==
              StoreResult::Refreshed);
        CHECK(get(s, "k").expires == t0 + 90min);
        CHECK(get(s, "k").stored_at == t0 + 30min);
        // The item still belongs to who wrote this version: a refresh from elsewhere cannot
        // move it onto someone else's quota (nor make it theirs to lose when the store fills).
        CHECK(get(s, "k").source == peer);
        // A refresh with a shorter life keeps the longer one.
        CHECK(s.store(t0 + 40min,
                      {.key = "k", .value = "v5", .seq = 5, .ttl = 10min, .source = peer}) ==
              StoreResult::Refreshed);
        CHECK(get(s, "k").expires == t0 + 90min);
        CHECK(get(s, "k").stored_at == t0 + 40min);
        CHECK(s.next_expiry() == t0 + 90min);
        CHECK(s.bytes() == 3);
        // The expiry index follows the extension: nothing expires at the old time.
        CHECK(s.expire(t0 + 1h) == 0);
        CHECK(s.expire(t0 + 90min) == 1);
        CHECK(s.size() == 0);
    }
    SECTION("an update may shorten nothing either") {
        CHECK(s.store(t0 + 1min,
                      {.key = "k", .value = "v7", .seq = 7, .ttl = 1min, .source = peer}) ==
              StoreResult::Updated);
        CHECK(get(s, "k").expires == t0 + 1h);
    }
}

TEST_CASE("Storage: size limits", "[storage]") {
    StorageConfig config;
    config.max_key_size = 8;
    config.max_value_size = 16;
    Storage s(config);
    const std::string key8(8, 'k');
    const std::string value16(16, 'v');
    CHECK(s.check_sizes(key8, value16) == StoreResult::Stored);
    CHECK(s.check_sizes(key8 + "k", value16) == StoreResult::KeyTooLarge);
    CHECK(s.check_sizes(key8, value16 + "v") == StoreResult::ValueTooLarge);

    CHECK(s.store(t0, {.key = key8 + "k", .value = "v", .seq = 0}) == StoreResult::KeyTooLarge);
    CHECK(s.store(t0, {.key = "k", .value = value16 + "v", .seq = 0}) ==
          StoreResult::ValueTooLarge);
    CHECK(s.size() == 0);
    CHECK(s.bytes() == 0);
    CHECK(s.store(t0, {.key = key8, .value = value16, .seq = 0}) == StoreResult::Stored);
    // An update is checked too.
    CHECK(s.store(t0, {.key = key8, .value = value16 + "v", .seq = 1}) ==
          StoreResult::ValueTooLarge);
    CHECK(get(s, key8).value == value16);

    // The defaults are the protocol's: 256-byte keys and 1000-byte values.
    Storage d;
    CHECK(d.check_sizes(std::string(256, 'k'), std::string(1000, 'v')) == StoreResult::Stored);
    CHECK(d.check_sizes(std::string(257, 'k'), "") == StoreResult::KeyTooLarge);
    CHECK(d.check_sizes("", std::string(1001, 'v')) == StoreResult::ValueTooLarge);
}

TEST_CASE("Storage: item count limit", "[storage]") {
    StorageConfig config;
    config.max_items = 2;
    Storage s(config);
    CHECK(s.store(t0, {.key = "a", .value = "1", .seq = 0}) == StoreResult::Stored);
    CHECK(s.store(t0, {.key = "b", .value = "1", .seq = 0}) == StoreResult::Stored);
    CHECK(s.store(t0, {.key = "c", .value = "1", .seq = 0}) == StoreResult::TooManyItems);
    CHECK(s.find(NodeId::from_key("c")) == nullptr);
    CHECK(s.size() == 2);
    // Items already there may still be updated and refreshed.
    CHECK(s.store(t0, {.key = "a", .value = "2", .seq = 1}) == StoreResult::Updated);
    CHECK(s.store(t0, {.key = "b", .value = "1", .seq = 0}) == StoreResult::Refreshed);
    // Room again once one is gone.
    CHECK(s.erase(NodeId::from_key("a")));
    CHECK_FALSE(s.erase(NodeId::from_key("a")));
    CHECK(s.store(t0, {.key = "c", .value = "1", .seq = 0}) == StoreResult::Stored);
}

TEST_CASE("Storage: byte limit", "[storage]") {
    StorageConfig config;
    config.max_bytes = 10;
    Storage s(config);
    CHECK(s.store(t0, {.key = "ab", .value = "cdef", .seq = 0}) == StoreResult::Stored);  // 6
    CHECK(s.bytes() == 6);
    CHECK(s.store(t0, {.key = "x", .value = "yzw0", .seq = 0}) == StoreResult::StorageFull);  // 11
    CHECK(s.find(NodeId::from_key("x")) == nullptr);
    CHECK(s.store(t0, {.key = "x", .value = "yzw", .seq = 0}) ==
          StoreResult::Stored);  // 10 exactly
    CHECK(s.bytes() == 10);
    // An update that grows past the limit is refused; the old version stays.
    CHECK(s.store(t0, {.key = "x", .value = "yzwv", .seq = 1}) == StoreResult::StorageFull);
    CHECK(get(s, "x").value == "yzw");
    CHECK(get(s, "x").seq == 0);
    CHECK(s.bytes() == 10);
    // One that shrinks is accepted and frees the difference.
    CHECK(s.store(t0, {.key = "x", .value = "y", .seq = 1}) == StoreResult::Updated);
    CHECK(s.bytes() == 8);
    CHECK(s.erase(NodeId::from_key("ab")));
    CHECK(s.bytes() == 2);
}

TEST_CASE("Storage: expiry with an injected now", "[storage]") {
    Storage s;
    CHECK(s.next_expiry() == TimePoint::max());
    CHECK(s.expire(t0) == 0);
    s.store(t0, {.key = "a", .value = "1", .seq = 0, .ttl = 10min});
    s.store(t0, {.key = "b", .value = "1", .seq = 0, .ttl = 20min});
    s.store(
        t0 + 5min,
        {.key = "c", .value = "1", .seq = 0, .ttl = 5min});  // expires at t0 + 10 min, as a does
    CHECK(s.next_expiry() == t0 + 10min);
    CHECK(s.expire(t0 + 10min - 1ns) == 0);
    CHECK(s.size() == 3);
    CHECK(s.expire(t0 + 10min) == 2);  // at or before now
    CHECK(s.size() == 1);
    CHECK(s.find(NodeId::from_key("a")) == nullptr);
    CHECK(s.find(NodeId::from_key("c")) == nullptr);
    CHECK(s.bytes() == 2);
    CHECK(s.next_expiry() == t0 + 20min);
    CHECK(s.expire(t0 + 1h) == 1);
    CHECK(s.size() == 0);
    CHECK(s.bytes() == 0);
    CHECK(s.next_expiry() == TimePoint::max());
}

TEST_CASE("Storage: ttl", "[storage]") {
    StorageConfig config;
    config.default_ttl = 2h;
    config.max_ttl = 5h;
    Storage s(config);
    CHECK(s.store(t0, {.key = "default", .value = "1", .seq = 0}) == StoreResult::Stored);
    CHECK(get(s, "default").expires == t0 + 2h);
    CHECK(s.store(t0, {.key = "long", .value = "1", .seq = 0, .ttl = 30 * 24h}) ==
          StoreResult::Stored);
    CHECK(get(s, "long").expires == t0 + 5h);  // clamped
    CHECK(s.store(t0, {.key = "max", .value = "1", .seq = 0, .ttl = 5h}) == StoreResult::Stored);
    CHECK(get(s, "max").expires == t0 + 5h);
    CHECK(s.store(t0, {.key = "short", .value = "1", .seq = 0, .ttl = 1s}) == StoreResult::Stored);
    CHECK(get(s, "short").expires == t0 + 1s);
    // A life that is not positive means the default.
    CHECK(s.store(t0, {.key = "zero", .value = "1", .seq = 0, .ttl = 0s}) == StoreResult::Stored);
    CHECK(get(s, "zero").expires == t0 + 2h);
}

TEST_CASE("Storage: the original flag is kept for our version, and only for ours", "[storage]") {
    Storage s;
    CHECK(s.store(t0, {.key = "mine", .value = "v", .seq = 1, .ours = true}) ==
          StoreResult::Stored);
    CHECK(get(s, "mine").original);
    CHECK(get(s, "mine").source == Endpoint());
    // Another node storing the same version (a holder's republish) does not take it away.
    CHECK(s.store(t0 + 1min, {.key = "mine", .value = "v", .seq = 1, .source = peer}) ==
          StoreResult::Refreshed);
    CHECK(get(s, "mine").original);
    // A newer version from someone else is theirs: we do not keep it alive as our own (it
    // used to stay "published here", and be refreshed by us: issue 16, finding 2).
    CHECK(s.store(t0 + 2min, {.key = "mine", .value = "w", .seq = 2, .source = peer}) ==
          StoreResult::Updated);
    CHECK_FALSE(get(s, "mine").original);

    // An item first stored by someone else becomes ours when we put it.
    CHECK(s.store(t0, {.key = "theirs", .value = "v", .seq = 1, .source = peer}) ==
          StoreResult::Stored);
    CHECK_FALSE(get(s, "theirs").original);
    CHECK(s.store(t0, {.key = "theirs", .value = "v", .seq = 1, .ours = true}) ==
          StoreResult::Refreshed);
    CHECK(get(s, "theirs").original);
}

TEST_CASE("Storage: results", "[storage]") {
    CHECK(kad::accepted(StoreResult::Stored));
    CHECK(kad::accepted(StoreResult::Updated));
    CHECK(kad::accepted(StoreResult::Refreshed));
    for (StoreResult r :
         {StoreResult::SeqTooLow, StoreResult::SeqConflict, StoreResult::KeyTooLarge,
          StoreResult::ValueTooLarge, StoreResult::TooManyItems, StoreResult::StorageFull}) {
        CHECK_FALSE(kad::accepted(r));
        CHECK(std::string(kad::to_string(r)) != "?");
    }
}

TEST_CASE("Storage: one source holds no more than its share", "[storage][quota]") {
    StorageConfig c;
    c.max_items = 100;
    c.max_share = 0.1;  // 10 items
    Storage s(c);
    CHECK(s.source_item_limit() == 10);
    int i = 0;
    for (; i < 10; ++i) {
        REQUIRE(s.store(t0, {.key = "p" + std::to_string(i),
                             .value = "v",
                             .seq = 0,
                             .ttl = {},
                             .source = peer}) == StoreResult::Stored);
    }
    CHECK(s.store(t0, {.key = "p10", .value = "v", .seq = 0, .ttl = {}, .source = peer}) ==
          StoreResult::QuotaExceeded);
    // Another port of the same IPv4 address is the same source.
    CHECK(s.store(t0,
                  {.key = "p10", .value = "v", .seq = 0, .ttl = {}, .source = peer.with_port(1)}) ==
          StoreResult::QuotaExceeded);
    REQUIRE(s.usage(peer) != nullptr);
    CHECK(s.usage(peer)->items == 10);
    // Others are not affected, and neither are our own items.
    CHECK(s.store(t0, {.key = "o1", .value = "v", .seq = 0, .ttl = {}, .source = other}) ==
          StoreResult::Stored);
    CHECK(s.store(t0, {.key = "mine", .value = "v", .seq = 0, .ttl = {}, .ours = true}) ==
          StoreResult::Stored);
    CHECK(s.usage(Endpoint{}) == nullptr);
    // A new version of its own item does not count twice; its items expiring frees its share.
    CHECK(s.store(t0, {.key = "p0", .value = "v2", .seq = 1, .ttl = {}, .source = peer}) ==
          StoreResult::Updated);
    CHECK(s.usage(peer)->items == 10);
    s.erase(NodeId::from_key("p1"));
    CHECK(s.usage(peer)->items == 9);
    CHECK(s.store(t0, {.key = "p10", .value = "v", .seq = 0, .ttl = {}, .source = peer}) ==
          StoreResult::Stored);
    // A new version written by another source moves to that source's share.
    CHECK(s.store(t0, {.key = "p10", .value = "v2", .seq = 1, .ttl = {}, .source = other}) ==
          StoreResult::Updated);
    CHECK(s.usage(peer)->items == 9);
    CHECK(s.usage(other)->items == 2);
    // A refresh from another source does not.
    CHECK(s.store(t0, {.key = "p2", .value = "v", .seq = 0, .ttl = {}, .source = other}) ==
          StoreResult::Refreshed);
    CHECK(s.usage(peer)->items == 9);
}

TEST_CASE("Storage: a byte share too", "[storage][quota]") {
    StorageConfig c;
    c.max_bytes = 1000;
    c.max_share = 0.5;
    Storage s(c);
    CHECK(s.store(
              t0,
              {.key = "a", .value = std::string(400, 'x'), .seq = 0, .ttl = {}, .source = peer}) ==
          StoreResult::Stored);
    CHECK(s.store(
              t0,
              {.key = "b", .value = std::string(100, 'x'), .seq = 0, .ttl = {}, .source = peer}) ==
          StoreResult::QuotaExceeded);
    CHECK(
        s.store(t0,
                {.key = "b", .value = std::string(98, 'x'), .seq = 0, .ttl = {}, .source = peer}) ==
        StoreResult::Stored);
    CHECK(s.usage(peer)->bytes == 500);
    // Growing an item past the share is refused and changes nothing.
    CHECK(
        s.store(t0,
                {.key = "b", .value = std::string(99, 'x'), .seq = 1, .ttl = {}, .source = peer}) ==
        StoreResult::QuotaExceeded);
    CHECK(get(s, "b").seq == 0);
}

TEST_CASE("Storage: IPv6 sources are counted per /64, loopback per port", "[storage][quota]") {
    CHECK(kad::source_key(*Endpoint::parse("[2001:db8:1:2::1]:1")) ==
          kad::source_key(*Endpoint::parse("[2001:db8:1:2:ffff::9]:2")));
    CHECK(kad::source_key(*Endpoint::parse("[2001:db8:1:2::1]:1")) !=
          kad::source_key(*Endpoint::parse("[2001:db8:1:3::1]:1")));
    CHECK(kad::source_key(*Endpoint::parse("127.0.0.1:1000")) !=
          kad::source_key(*Endpoint::parse("127.0.0.1:1001")));
    CHECK(kad::source_key(*Endpoint::parse("198.51.100.7:1000")) ==
          kad::source_key(*Endpoint::parse("198.51.100.7:1001")));
}

TEST_CASE("Storage: when full, the source holding the most loses first", "[storage][quota]") {
    StorageConfig c;
    c.max_items = 10;
    c.max_share = 0.7;  // 7 items each
    Storage s(c);
    const Endpoint third = Endpoint::v4({192, 0, 2, 3}, 6881);
    for (int i = 0; i < 6; ++i) {
        // The heavy source's items expire one minute apart: the soonest goes first.
        REQUIRE(s.store(t0, {.key = "h" + std::to_string(i),
                             .value = "v",
                             .seq = 0,
                             .ttl = 1h + i * 1min,
                             .source = peer}) == StoreResult::Stored);
    }
    for (int i = 0; i < 3; ++i) {
        REQUIRE(s.store(t0, {.key = "o" + std::to_string(i),
                             .value = "v",
                             .seq = 0,
                             .ttl = {},
                             .source = other}) == StoreResult::Stored);
    }
    REQUIRE(s.store(t0, {.key = "mine", .value = "v", .seq = 0, .ttl = {}, .ours = true}) ==
            StoreResult::Stored);
    REQUIRE(s.size() == 10);
    // Full. The heaviest source's new items are refused...
    CHECK(s.store(t0, {.key = "h6", .value = "v", .seq = 0, .ttl = {}, .source = peer}) ==
          StoreResult::TooManyItems);
    // ...while a lighter source's item takes the place of the heaviest's soonest to expire.
    CHECK(s.store(t0, {.key = "t0", .value = "v", .seq = 0, .ttl = {}, .source = third}) ==
          StoreResult::Stored);
    CHECK(s.size() == 10);
    CHECK(s.evicted() == 1);
    CHECK(s.find(NodeId::from_key("h0")) == nullptr);
    CHECK(s.find(NodeId::from_key("h1")) != nullptr);
    CHECK(s.usage(peer)->items == 5);
    // A lighter source may take the heaviest's place until it holds as much itself.
    CHECK(s.store(t0, {.key = "o3", .value = "v", .seq = 0, .ttl = {}, .source = other}) ==
          StoreResult::Stored);
    CHECK(s.usage(peer)->items == 4);
    CHECK(s.usage(other)->items == 4);
    CHECK(s.store(t0, {.key = "o4", .value = "v", .seq = 0, .ttl = {}, .source = other}) ==
          StoreResult::TooManyItems);
    CHECK(s.evicted() == 2);
    // Our own items are never evicted, and our own puts make room like a light source.
    CHECK(s.store(t0, {.key = "mine2", .value = "v", .seq = 0, .ttl = {}, .ours = true}) ==
          StoreResult::Stored);
    CHECK(s.evicted() == 3);
    CHECK(s.usage(peer)->items + s.usage(other)->items == 7);
    CHECK(s.find(NodeId::from_key("mine")) != nullptr);
    CHECK(s.size() == 10);
    // Expiry keeps the per-source index right: after the heavy source's items expire, it holds
    // nothing.
    s.expire(t0 + 2h);
    CHECK(s.usage(peer) == nullptr);
}

TEST_CASE("Storage: every change reaches the change hook, with the item as it now is",
          "[storage]") {
    Storage s;
    std::vector<std::pair<NodeId, std::string>> seen;  // target, value ("-": gone)
    s.set_change_hook([&](const NodeId& target, const kad::StoredItem* item) {
        seen.emplace_back(target, item ? item->value : "-");
    });
    const NodeId k = NodeId::from_key("k");
    s.store(t0, {.key = "k", .value = "v1", .seq = 1, .source = peer});       // stored
    s.store(t0 + 1s, {.key = "k", .value = "v1", .seq = 1, .source = peer});  // refreshed
    s.store(t0, {.key = "k", .value = "v2", .seq = 2, .source = peer});       // updated
    s.store(t0, {.key = "k", .value = "v0", .seq = 0, .source = peer});       // refused
    s.set_original(k, true);
    s.set_published(k, t0);
    s.erase(k);
    s.store(t0, {.key = "e", .value = "x", .ttl = 1s});
    s.expire(t0 + 2s);
    const NodeId e = NodeId::from_key("e");
    const std::vector<std::pair<NodeId, std::string>> want = {
        {k, "v1"}, {k, "v1"}, {k, "v2"}, {k, "v2"}, {k, "v2"}, {k, "-"}, {e, "x"}, {e, "-"}};
    CHECK(seen == want);
    CHECK(s.changes() == want.size());
}

TEST_CASE("Storage: another writer's newer version of ours is reported once as superseded",
          "[storage]") {
    Storage s;
    std::vector<std::pair<std::int64_t, Endpoint>> taken;
    s.set_superseded_hook(
        [&](const kad::StoredItem& item) { taken.emplace_back(item.seq, item.source); });
    s.store(t0, {.key = "k", .value = "mine", .seq = 1, .ours = true});
    s.store(t0, {.key = "k", .value = "mine", .seq = 1, .source = peer});  // a refresh: still ours
    s.store(t0, {.key = "k", .value = "mine2", .seq = 2, .ours = true});   // our own new version
    CHECK(taken.empty());
    s.store(t0, {.key = "k", .value = "evil", .seq = 3, .source = peer});
    REQUIRE(taken.size() == 1);
    CHECK(taken[0] == std::pair<std::int64_t, Endpoint>{3, peer});
    CHECK_FALSE(get(s, "k").original);
    s.store(t0, {.key = "k", .value = "evil2", .seq = 4, .source = other});  // not ours any more
    CHECK(taken.size() == 1);
}
