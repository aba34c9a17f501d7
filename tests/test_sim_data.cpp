// Data that lasts, on the virtual network: expiry, republishing, hand-off, graceful leave.

#include <algorithm>
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/sim/network.hpp"
#include "sim_helpers.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

std::optional<PutResult> put(sim::Network& net, std::size_t from, const std::string& key,
                             const std::string& value, PutOptions o = {}) {
    std::optional<PutResult> r;
    net.with(from, [&](Node& n, TimePoint now) {
        n.put(now, key, value, o, [&](const PutResult& x) { r = x; });
    });
    net.run_until([&] { return r.has_value(); }, 60s);
    return r;
}

std::optional<GetResult> get(sim::Network& net, std::size_t from, const std::string& key) {
    std::optional<GetResult> r;
    net.with(from,
             [&](Node& n, TimePoint now) { n.get(now, key, [&](const GetResult& x) { r = x; }); });
    net.run_until([&] { return r.has_value(); }, 60s);
    return r;
}

std::size_t holders(sim::Network& net, const std::string& key) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (net.alive(i) && net.node(i).storage().find(NodeId::from_key(key))) ++n;
    }
    return n;
}

std::size_t random_alive(sim::Network& net) {
    for (;;) {
        const std::size_t i = net.rng().uniform(net.size());
        if (net.alive(i)) return i;
    }
}

}  // namespace

TEST_CASE("items expire at their TTL, everywhere", "[sim][data]") {
    sim::Network net(31, lan());
    REQUIRE(sim::grow(net, 50).size() == 50);
    auto p = put(net, 3, "brief", "moment", PutOptions{std::nullopt, 60s});
    REQUIRE(p);
    REQUIRE(p->ok);
    CHECK(holders(net, "brief") == 21);  // the 20 nearest and the publisher
    net.kill(3);                         // the publisher is gone: nobody refreshes it
    net.run_for(58s);
    auto g = get(net, 7, "brief");
    REQUIRE(g);
    CHECK(g->ok);
    net.run_for(3s);
    CHECK(holders(net, "brief") == 0);
    g = get(net, 9, "brief");
    REQUIRE(g);
    CHECK_FALSE(g->ok);
}

TEST_CASE("the publisher refreshes its item before it expires", "[sim][data]") {
    sim::Network net(32, lan());
    REQUIRE(sim::grow(net, 50).size() == 50);
    REQUIRE(put(net, 3, "kept", "alive", PutOptions{std::nullopt, 10min})->ok);
    net.run_for(1h);  // six lifetimes
    auto g = get(net, 8, "kept");
    REQUIRE(g);
    CHECK(g->ok);
    CHECK(net.node(3).stats().refreshed_originals >= 6);
}

TEST_CASE("holders republish hourly, but skip items stored to them within the hour",
          "[sim][data]") {
    sim::Network net(33, lan());
    REQUIRE(sim::grow(net, 100).size() == 100);
    REQUIRE(put(net, 5, "replicated", "twenty copies", PutOptions{std::nullopt, 48h})->ok);
    net.run_for(3h + 20min);
    std::uint64_t republished = 0;
    for (std::size_t i = 0; i < net.size(); ++i) republished += net.node(i).stats().republished;
    // 20 holders over 3 hours would be 60 republishes without the skip; with it, about one an
    // hour (the first holder whose jittered timer fires refreshes the others).
    CHECK(republished >= 3);
    CHECK(republished <= 9);
    CHECK(holders(net, "replicated") >= 20);
}

TEST_CASE("a new node among a key's nearest receives the item without a new put", "[sim][data]") {
    sim::Network net(34, lan());
    REQUIRE(sim::grow(net, 100).size() == 100);
    REQUIRE(put(net, 5, "handed", "over", PutOptions{std::nullopt, 48h})->ok);
    // A newcomer whose ID is nearer the key than anyone's.
    const NodeId target = NodeId::from_key("handed");
    const NodeId id = target.with_bit_flipped(159);
    const std::size_t fresh = net.add_node({}, id);
    std::optional<BootstrapResult> b;
    net.with(fresh, [&](Node& n, TimePoint now) {
        n.bootstrap(now, {{net.endpoint(0), std::nullopt}},
                    [&](const BootstrapResult& r) { b = r; });
    });
    REQUIRE(net.run_until([&] { return b.has_value(); }, 30s));
    REQUIRE(b->ok);
    REQUIRE(net.run_until([&] { return net.node(fresh).storage().find(target) != nullptr; }, 10s));
    CHECK(net.node(fresh).storage().find(target)->value == "over");
    std::uint64_t handoffs = 0;
    for (std::size_t i = 0; i < net.size(); ++i) handoffs += net.node(i).stats().handoff_stores;
    CHECK(handoffs >= 1);
}

TEST_CASE("a clean stop hands the items over: k = 2, two nodes leave, nothing is lost",
          "[sim][data]") {
    NodeConfig config;
    config.k = 2;
    sim::Network net(35, lan());
    REQUIRE(sim::grow(net, 5, config).size() == 5);
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i) {
        keys.push_back("k" + std::to_string(i));
        REQUIRE(
            put(net, static_cast<std::size_t>(i % 5), keys.back(), "v" + std::to_string(i))->ok);
    }
    for (std::size_t leaving : {1u, 3u}) {
        std::optional<HandoffResult> h;
        net.with(leaving, [&](Node& n, TimePoint now) {
            n.hand_off_all(now, [&](const HandoffResult& r) { h = r; });
        });
        REQUIRE(net.run_until([&] { return h.has_value(); }, 30s));
        CHECK(h->ok);
        CHECK(h->items == net.node(leaving).storage().size());
        // The second to leave still has the first among its contacts: the requests to it
        // fail, and the next nearest node takes its place.
        if (leaving == 1) CHECK(h->failed == 0);
        CHECK(h->short_items == 0);
        CHECK(h->stored + h->already_had >= 2 * h->items);
        net.kill(leaving);
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto g = get(net, i % 2 == 0 ? 0 : 2, keys[i]);
        REQUIRE(g);
        CHECK(g->ok);
        if (g->ok) CHECK(g->item->value == "v" + std::to_string(i));
    }
}

TEST_CASE(
    "a watch reports the version found, then each newer one: within a watch interval "
    "anywhere, at once on a holder",
    "[sim][data][watch]") {
    sim::Network net(37, lan());
    REQUIRE(sim::grow(net, 40).size() == 40);
    const Duration interval = NodeConfig{}.watch_interval;
    struct Seen {
        std::int64_t seq;
        std::string value;
        TimePoint at;
        bool here;
    };
    std::vector<Seen> far_seen;
    std::optional<WatchId> far_id;
    net.with(5, [&](Node& n, TimePoint now) {
        far_id = n.watch(now, "news", [&](const WatchEvent& e) {
            far_seen.push_back({e.item.seq, e.item.value, net.now(), e.here});
        });
    });
    REQUIRE(far_id);
    net.run_for(5s);
    CHECK(far_seen.empty());  // nothing there yet

    auto p0 = put(net, 9, "news", "v0");
    REQUIRE(p0);
    REQUIRE(p0->ok);
    const TimePoint put0 = net.now();
    net.run_until([&] { return !far_seen.empty(); }, 2 * interval);
    REQUIRE(far_seen.size() == 1);
    CHECK(far_seen[0].value == "v0");
    CHECK(far_seen[0].at - put0 <= interval + 5s);

    // A holder of the key watches too: a newer version reaches it with the store itself.
    std::optional<std::size_t> holder;
    for (std::size_t i = 0; i < net.size() && !holder; ++i) {
        if (i != 9 && i != 5 && net.node(i).storage().find(NodeId::from_key("news"))) holder = i;
    }
    REQUIRE(holder);
    std::vector<Seen> near_seen;
    net.with(*holder, [&](Node& n, TimePoint now) {
        REQUIRE(n.watch(now, "news", [&](const WatchEvent& e) {
            near_seen.push_back({e.item.seq, e.item.value, net.now(), e.here});
        }));
    });
    net.run_until([&] { return !near_seen.empty(); }, 10s);  // its own copy, at once
    REQUIRE(near_seen.size() == 1);
    CHECK(near_seen[0].value == "v0");

    auto p1 = put(net, 9, "news", "v1");
    REQUIRE(p1);
    REQUIRE(p1->ok);
    REQUIRE(near_seen.size() == 2);  // by the time the put returned
    CHECK(near_seen[1].value == "v1");
    CHECK(near_seen[1].seq == 1);
    CHECK(near_seen[1].here);
    const TimePoint put1 = net.now();
    net.run_until([&] { return far_seen.size() == 2; }, 2 * interval);
    REQUIRE(far_seen.size() == 2);
    CHECK(far_seen[1].value == "v1");
    CHECK(far_seen[1].at - put1 <= interval + 5s);

    // Unwatched: nothing more.
    net.with(5, [&](Node& n, TimePoint) { CHECK(n.unwatch(*far_id)); });
    auto p2 = put(net, 9, "news", "v2");
    REQUIRE(p2);
    net.run_for(2 * interval);
    CHECK(far_seen.size() == 2);
    CHECK(near_seen.size() == 3);
}

namespace {

// The node farthest from `key`'s target among the first `n`, other than `not_this`: never one
// of its holders.
std::size_t farthest(sim::Network& net, const std::string& key, std::size_t n,
                     std::optional<std::size_t> not_this = std::nullopt) {
    const NodeId target = NodeId::from_key(key);
    std::size_t best = not_this == 0 ? 1 : 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (i == not_this) continue;
        if ((net.node(best).id() ^ target) < (net.node(i).id() ^ target)) best = i;
    }
    return best;
}

}  // namespace

TEST_CASE(
    "a watcher hears of a new version from its holders within a round trip of the store, also "
    "after the holders change; holders drop a watcher that unwatched",
    "[sim][data][watch]") {
    constexpr Duration one_way = 20ms;
    constexpr Duration jitter = 2ms;
    constexpr Duration round_trip = 2 * (one_way + jitter);
    sim::Network net(38, lan(one_way, jitter));
    REQUIRE(sim::grow(net, 60).size() == 60);
    const std::string key = "headline";
    const NodeId target = NodeId::from_key(key);
    const std::size_t watcher = farthest(net, key, net.size());
    const std::size_t writer = farthest(net, key, net.size(), watcher);
    const Duration interval = NodeConfig{}.watch_interval;

    // When the writer sends its first store of the key (all of a put's stores leave together).
    std::optional<TimePoint> store_sent;
    net.set_tap([&](std::size_t from, const Endpoint&, std::string_view data) {
        if (from != writer || store_sent) return;
        auto m = krpc::decode(data);
        const auto* q = m ? std::get_if<krpc::Query>(&m->body) : nullptr;
        if (!q || q->method() != krpc::Method::Store) return;
        if (std::get<krpc::StoreArgs>(q->args).target == target) store_sent = net.now();
    });
    struct Seen {
        std::int64_t seq;
        TimePoint at;
        bool pushed;
        Endpoint from;
    };
    std::vector<Seen> seen;
    std::optional<WatchId> id;
    net.with(watcher, [&](Node& n, TimePoint now) {
        id = n.watch(now, key, [&](const WatchEvent& e) {
            seen.push_back({e.item.seq, net.now(), e.pushed, e.from.endpoint});
        });
    });
    REQUIRE(id);
    net.run_for(5s);  // the first round: nothing there yet, but the nearest holders listen
    CHECK(seen.empty());
    CHECK(net.node(watcher).watches().listening(*id, net.now()) == NodeConfig{}.listen_nodes);

    auto put_and_hear = [&](const std::string& value, std::int64_t seq) {
        store_sent.reset();
        const std::size_t before = seen.size();
        PutOptions o;
        o.seq = seq;
        auto p = put(net, writer, key, value, o);
        REQUIRE(p);
        REQUIRE(p->ok);
        REQUIRE(store_sent);
        net.run_until([&] { return seen.size() > before; }, 5s);
        REQUIRE(seen.size() == before + 1);
        CHECK(seen.back().seq == seq);
        CHECK(seen.back().pushed);  // a holder told us: no round found it
        CHECK(seen.back().at - *store_sent <= round_trip);
        // Noted as seen, as a round's lookup would: a get from here asks for no older version.
        CHECK(net.node(watcher).seen_seqs().get(target) == seq);
    };
    put_and_hear("v0", 0);
    put_and_hear("v1", 1);

    // The holders change: every node that holds the key goes, and the next round listens at
    // the nodes now nearest, which the next put stores on.
    std::size_t gone = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (i != writer && i != watcher && net.node(i).storage().find(target)) {
            net.kill(i);
            ++gone;
        }
    }
    CHECK(gone >= NodeConfig{}.k - 2);
    net.run_for(interval + 5s);
    put_and_hear("v2", 2);

    // Unwatched: the holders' next notify is refused, and they drop the watcher.
    net.with(watcher, [&](Node& n, TimePoint) { CHECK(n.unwatch(*id)); });
    auto p = put(net, writer, key, "v3");
    REQUIRE(p);
    REQUIRE(p->ok);
    net.run_for(1s);
    CHECK(seen.size() == 3);
    std::uint64_t refused = 0;
    std::size_t still = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (!net.alive(i)) continue;
        refused += net.node(i).stats().notifies_refused;
        for (const auto& w : net.node(i).listeners().of(target, net.now())) {
            if (w.endpoint == net.endpoint(watcher)) ++still;
        }
    }
    CHECK(refused >= 1);
    CHECK(still == 0);
}

TEST_CASE(
    "holders that cannot listen leave a watch to its rounds: a new version within an "
    "interval",
    "[sim][data][watch]") {
    NodeConfig config;
    config.listeners.max = 0;  // every listen refused (202), as a holder that cannot push
    config.listeners.per_source = 0;
    sim::Network net(39, lan());
    REQUIRE(sim::grow(net, 40, config).size() == 40);
    const std::string key = "quiet";
    const std::size_t watcher = farthest(net, key, net.size());
    const std::size_t writer = farthest(net, key, net.size(), watcher);
    std::vector<WatchEvent> seen;
    std::optional<WatchId> id;
    net.with(watcher, [&](Node& n, TimePoint now) {
        id = n.watch(now, key, [&](const WatchEvent& e) { seen.push_back(e); });
    });
    REQUIRE(id);
    net.run_for(5s);
    CHECK(net.node(watcher).watches().listening(*id, net.now()) == 0);
    CHECK(net.node(watcher).stats().listens_sent > 0);
    CHECK(net.node(watcher).stats().listens_held == 0);
    auto p = put(net, writer, key, "v0");
    REQUIRE(p);
    REQUIRE(p->ok);
    const TimePoint put_at = net.now();
    const Duration interval = config.watch_interval;
    net.run_until([&] { return !seen.empty(); }, 2 * interval);
    REQUIRE(seen.size() == 1);
    CHECK_FALSE(seen[0].pushed);
    CHECK(net.now() - put_at <= interval + 5s);
}

TEST_CASE("a quarter of the nodes replaced every hour for a day: all 1,000 values remain",
          "[sim][data][churn]") {
    sim::Network net(36, lan());
    REQUIRE(sim::grow(net, 200).size() == 200);
    std::vector<std::string> keys;
    std::size_t ok_puts = 0;
    for (int i = 0; i < 1000; ++i) {
        keys.push_back("value-" + std::to_string(i));
        net.with(random_alive(net), [&, i](Node& n, TimePoint now) {
            n.put(now, keys.back(), "payload-" + std::to_string(i), PutOptions{std::nullopt, 48h},
                  [&ok_puts](const PutResult& x) { ok_puts += x.ok ? 1 : 0; });
        });
        if (i % 50 == 49) net.run_for(2s);
    }
    net.run_for(30s);
    REQUIRE(ok_puts == 1000);

    for (int hour = 0; hour < 24; ++hour) {
        // 25%: 50 of the 200 live nodes die (publishers included), 50 new ones join.
        for (int k = 0; k < 50; ++k) net.kill(random_alive(net));
        const auto joined = sim::grow(net, 50, {}, 20ms, 2min);
        CHECK(joined.size() == 50);
        net.run_for(1h - 2min);
    }
    std::size_t found = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto g = get(net, random_alive(net), keys[i]);
        if (g && g->ok && g->item->value == "payload-" + std::to_string(i)) ++found;
    }
    CHECK(found == keys.size());
}
