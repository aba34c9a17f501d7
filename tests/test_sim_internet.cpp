// The simulated Internet (kad/sim/internet.hpp): pair round trips, NAT, churn, and a small
// network on the mainline preset. Virtual time only.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>

#include "kad/sim/internet.hpp"
#include "kad/sim/network.hpp"

using namespace kad;
using namespace std::chrono_literals;

namespace {

double ms(Duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

sim::InternetParams mainline() {
    return *sim::internet_preset("mainline");
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

TEST_CASE("pair round trips are symmetric, deterministic, and keep the triangle inequality",
          "[sim][internet]") {
    const sim::InternetModel a(7, mainline());
    const sim::InternetModel b(7, mainline());
    const sim::InternetModel other(8, mainline());
    // b meets its nodes in another order: a node's coordinates depend on the seed and its index.
    for (std::size_t i = 500; i-- > 0;) (void)b.rtt(i, 0);
    SeededRandom rng(1);
    std::size_t differ = 0;
    for (int t = 0; t < 2000; ++t) {
        const std::size_t x = rng.uniform(500), y = rng.uniform(500), z = rng.uniform(500);
        REQUIRE(a.rtt(x, y) == a.rtt(y, x));
        REQUIRE(a.rtt(x, y) == b.rtt(x, y));
        REQUIRE(ms(a.rtt(x, z)) <= ms(a.rtt(x, y)) + ms(a.rtt(y, z)) + 1e-3);
        if (x != y && a.rtt(x, y) != other.rtt(x, y)) ++differ;
    }
    CHECK(differ > 1900);
    CHECK(a.rtt(3, 3) == Duration::zero());
}

TEST_CASE("the sampled median round trip is the configured one, with a heavy tail",
          "[sim][internet]") {
    for (const double target : {40.0, 150.0, 300.0}) {
        auto p = mainline();
        p.rtt_median =
            std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(target));
        const sim::InternetModel m(3, p);
        const double p50 = m.sampled_rtt_ms(5000, 50, 1);
        const double p99 = m.sampled_rtt_ms(5000, 99, 1);
        INFO("median " << target << " ms: sampled p50 " << p50 << ", p99 " << p99);
        CHECK(std::abs(p50 - target) < 0.05 * target);
        CHECK(p99 > 3 * target);  // the slow access links
        // A few percent of pairs, not most, take more than 2.5 times the median.
        SeededRandom rng(2);
        std::size_t slow = 0;
        constexpr std::size_t kPairs = 20000;
        for (std::size_t k = 0; k < kPairs; ++k) {
            if (ms(m.rtt(rng.uniform(5000), rng.uniform(5000))) > 2.5 * target) ++slow;
        }
        const double share = static_cast<double>(slow) / kPairs;
        CHECK(share > 0.01);
        CHECK(share < 0.15);
    }
    // Without slow links, the tail is short.
    auto p = mainline();
    p.slow_share = 0;
    const sim::InternetModel m(3, p);
    CHECK(m.sampled_rtt_ms(5000, 99, 1) < 3 * 150);
}

TEST_CASE("a datagram takes half the pair round trip plus jitter", "[sim][internet]") {
    auto p = mainline();
    p.loss = 0;
    p.nat_share = 0;
    auto model = std::make_shared<sim::InternetModel>(5, p);
    sim::Network net(5, model->link_model());
    sim::InternetModel::attach(net, model);
    const std::size_t a = net.add_node();
    const std::size_t b = net.add_node();
    std::optional<PingResult> got;
    net.with(a, [&](Node& n, TimePoint now) {
        n.ping(now, net.endpoint(b), std::nullopt, [&](const PingResult& r) { got = r; });
    });
    net.run_for(5s);
    REQUIRE(got);
    REQUIRE(got->ok);
    CHECK(got->rtt >= model->rtt(a, b));
    CHECK(got->rtt <= model->rtt(a, b) + 2 * p.jitter);
}

TEST_CASE("a node behind NAT drops what it did not ask for, and gets its answers",
          "[sim][internet]") {
    sim::Network net(11, sim::LinkModel{.latency = 20ms});
    net.set_nat_timeout(60s);
    const std::size_t pub = net.add_node();
    const std::size_t natted = net.add_node();
    net.set_nat(natted, true);
    CHECK(net.behind_nat(natted));
    CHECK_FALSE(net.behind_nat(pub));
    const auto ping = [&](std::size_t from, std::size_t to) {
        std::optional<PingResult> r;
        net.with(from, [&](Node& n, TimePoint now) {
            n.ping(now, net.endpoint(to), std::nullopt, [&](const PingResult& res) { r = res; });
        });
        net.run_until([&] { return r.has_value(); }, 30s);
        REQUIRE(r);
        return r->ok;
    };

    CHECK_FALSE(ping(pub, natted));  // unsolicited
    CHECK(net.stats().dropped_nat > 0);
    CHECK(ping(natted, pub));  // its own query is answered
    CHECK(ping(pub, natted));  // the mapping is open: now it gets through
    net.run_for(61s);
    const auto dropped = net.stats().dropped_nat;
    CHECK_FALSE(ping(pub, natted));  // the mapping timed out
    CHECK(net.stats().dropped_nat > dropped);
}

namespace {

struct NatCensus {
    std::size_t natted = 0;        // nodes behind NAT
    std::size_t natted_known = 0;  // ... held in another node's table
    std::size_t public_known = 0;  // public nodes held in another node's table
    std::size_t unanswered = 0;    // probes unanswered, over all nodes
    bool lookups_done = false;
    bool natted_tables_full = true;  // every node behind NAT holds 20 contacts or more
};

// 60 nodes, half behind NAT, run past the NAT timeout with a lookup from every node.
NatCensus nat_census(bool probe_ports) {
    auto p = mainline();
    p.nat_share = 0.5;
    p.loss = 0;
    auto model = std::make_shared<sim::InternetModel>(21, p);
    sim::Network net(21, model->link_model());
    net.set_probe_ports(probe_ports);
    sim::InternetModel::attach(net, model);
    const auto joined = sim::grow(net, 60);
    REQUIRE(joined.size() == 60);
    REQUIRE_FALSE(net.behind_nat(0));  // the seed stands for the public routers
    net.run_for(5min);                 // refreshes, rechecks and pings on every side
    std::size_t done = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        const NodeId target = NodeId::random(net.rng());
        net.with(i, [&](Node& n, TimePoint now) {
            n.lookup(now, target, [&done](const LookupResult&) { ++done; });
        });
    }
    net.run_for(1min);
    NatCensus c;
    c.lookups_done = done == net.size();
    for (std::size_t i = 0; i < net.size(); ++i) {
        c.unanswered += net.node(i).stats().reach_probes_unanswered;
        std::size_t holders = 0;
        for (std::size_t j = 0; j < net.size(); ++j) {
            if (j != i && net.node(j).routing_table().find(net.node(i).id())) ++holders;
        }
        if (net.behind_nat(i)) {
            ++c.natted;
            if (holders > 0) ++c.natted_known;
            if (net.node(i).routing_table().size() < 20) c.natted_tables_full = false;
        } else if (holders > 0) {
            ++c.public_known;
        }
    }
    return c;
}

}  // namespace

TEST_CASE(
    "a node behind NAT joins and gets its answers, but its neighbours' probes from their second "
    "port go unanswered, so no table holds it and no answer hands it on",
    "[sim][internet][nat]") {
    const NatCensus c = nat_census(true);
    CHECK(c.lookups_done);
    CHECK(c.natted > 15);
    CHECK(c.natted_known == 0);
    CHECK(c.public_known == 60 - c.natted);
    CHECK(c.unanswered >= c.natted);
    CHECK(c.natted_tables_full);  // its own table fills from the answers to its queries
    // Without second ports (kadnode --no-probe-port), the same nodes answer the verification
    // ping through the mapping their query opened, and most of them are held and handed on.
    const NatCensus without = nat_census(false);
    CHECK(without.natted == c.natted);
    CHECK(without.natted_known > without.natted / 2);
    CHECK(without.unanswered == 0);
}

TEST_CASE("Weibull draws have the configured median", "[sim][internet]") {
    SeededRandom rng(4);
    for (const double shape : {0.42, 1.0, 2.0}) {
        std::vector<double> v;
        for (int i = 0; i < 20000; ++i) v.push_back(ms(sim::weibull(rng, 10min, shape)));
        INFO("shape " << shape);
        CHECK(std::abs(median(v) - ms(10min)) < 0.04 * ms(10min));
    }
}

TEST_CASE("churn keeps the population near its share online, sessions at their median",
          "[sim][internet][churn]") {
    sim::Network net(31, sim::LinkModel{.latency = 1ms, .jitter = 500us});
    constexpr std::size_t kNodes = 100;
    REQUIRE(sim::grow(net, kNodes).size() == kNodes);
    sim::InternetParams p;
    p.session_median = 2min;
    p.session_shape = 0.7;
    p.off_median = 1min;
    p.off_shape = 0.7;
    sim::Churn churn(net, 31, p);
    churn.start();
    const double share = churn.availability();
    CHECK(std::abs(share - 2.0 / 3.0) < 0.01);  // same shape: the ratio of the medians
    std::vector<double> online;
    for (int minute = 0; minute < 60; ++minute) {
        churn.run_for(1min);
        if (minute >= 10) online.push_back(static_cast<double>(churn.online()) / kNodes);
    }
    double mean = 0;
    for (double o : online) mean += o / static_cast<double>(online.size());
    INFO("online " << mean << " against " << share);
    CHECK(std::abs(mean - share) < 0.08);
    CHECK(*std::min_element(online.begin(), online.end()) > share - 0.2);
    CHECK(churn.departures() > 300);
    CHECK(churn.returns() > 300);
    std::vector<double> sessions;
    for (Duration d : churn.completed_sessions()) sessions.push_back(ms(d));
    REQUIRE(sessions.size() > 200);
    INFO("median session " << median(sessions) / 60000 << " min");
    // Sessions still running at the end are not counted: a little short, never far.
    CHECK(std::abs(median(sessions) - ms(2min)) < 0.25 * ms(2min));
    CHECK(net.stats().restarts == churn.returns());
}

TEST_CASE("a held node leaves only once released", "[sim][internet]") {
    sim::Network net(41);
    sim::grow(net, 5);
    sim::InternetParams p;
    p.session_median = 1s;
    p.off_median = 1h;
    sim::Churn churn(net, 41, p);
    churn.start();
    churn.hold(2);
    churn.run_for(10min);
    CHECK(net.alive(2));
    CHECK(churn.online() == 1);
    churn.release(2);
    churn.run_for(1ms);
    CHECK_FALSE(net.alive(2));
}

TEST_CASE("300 nodes on the mainline preset find what was stored", "[sim][internet][churn]") {
    const auto p = mainline();
    auto model = std::make_shared<sim::InternetModel>(51, p);
    sim::Network net(51, model->link_model());
    sim::InternetModel::attach(net, model);
    const auto joined = sim::grow(net, 300, {}, 2ms, 5min);
    CHECK(joined.size() >= 295);
    // The share behind NAT is the preset's.
    std::size_t natted = 0;
    for (std::size_t i = 0; i < net.size(); ++i) natted += net.behind_nat(i) ? 1 : 0;
    CHECK(std::abs(static_cast<double>(natted) / 300 - p.nat_share) < 0.08);

    constexpr std::size_t kValues = 20;
    std::size_t stored = 0;
    for (std::size_t v = 0; v < kValues; ++v) {
        net.with(joined[v * 7], [&, v](Node& n, TimePoint now) {
            n.put(now, "key-" + std::to_string(v), "value-" + std::to_string(v), {},
                  [&](const PutResult& r) { stored += r.ok ? 1 : 0; });
        });
    }
    net.run_for(2min);
    CHECK(stored == kValues);

    // Churn runs while the values are got, each from another node (one behind NAT or not).
    sim::Churn churn(net, 51, p);
    churn.start();
    std::size_t found = 0, done = 0;
    for (std::size_t v = 0; v < kValues; ++v) {
        const std::size_t from = joined[(v * 13 + 5) % joined.size()];
        if (!net.alive(from)) {
            ++done;
            continue;
        }
        churn.hold(from);
        net.with(from, [&, v, from](Node& n, TimePoint now) {
            n.get(now, "key-" + std::to_string(v), [&, v, from](const GetResult& r) {
                found += r.ok && r.item && r.item->value == "value-" + std::to_string(v) ? 1 : 0;
                ++done;
                churn.release(from);
            });
        });
    }
    churn.run_until([&] { return done == kValues; }, 5min);
    CHECK(done == kValues);
    CHECK(found >= kValues - 1);
    CHECK(net.stats().dropped_nat > 0);
}

namespace {

// One run on the mainline preset (short sessions, so that nodes leave and come back while the
// values are got), on `threads` threads; what it did, as text: the network's counters, every
// node's table, and each put's and get's outcome and time, in the order they were reported.
// `flat`: the preset's NAT, loss and churn, but a flat 40 ms one way (plus up to 20 of jitter,
// and duplicates), for long windows in which many callbacks run.
std::string threaded_run(unsigned threads, bool flat) {
    auto p = mainline();
    p.session_median = 2min;
    p.off_median = 1min;
    if (flat) p.rtt_median = Duration::zero();
    auto model = std::make_shared<sim::InternetModel>(61, p);
    sim::LinkModel link = model->link_model();
    if (flat) {
        link.latency = 40ms;
        link.jitter = 20ms;
        link.duplicate = 0.01;
    }
    sim::Network net(61, link);
    net.set_threads(threads);
    sim::InternetModel::attach(net, model);
    const auto joined = sim::grow(net, 150, {}, 2ms, 5min);
    std::string out = "joined " + std::to_string(joined.size()) + "\n";
    constexpr std::size_t kValues = 12;
    std::size_t done = 0;
    for (std::size_t v = 0; v < kValues; ++v) {
        const std::size_t from = joined[v * 11];
        net.with(from, [&, v, from](Node& n, TimePoint now) {
            n.put(now, "key-" + std::to_string(v), "value", {}, [&, from](const PutResult& r) {
                net.defer(from, [&, r] {
                    out += "put " + std::to_string(r.ok) + " " + std::to_string(r.elapsed.count()) +
                           "\n";
                    ++done;
                });
            });
        });
    }
    net.run_until([&] { return done == kValues; }, 2min);
    sim::Churn churn(net, 61, p);
    churn.start();
    done = 0;
    for (std::size_t v = 0; v < kValues; ++v) {
        const std::size_t from = joined[(v * 13 + 5) % joined.size()];
        churn.hold(from);
        net.with(from, [&, v, from](Node& n, TimePoint now) {
            n.get(now, "key-" + std::to_string(v), [&, from](const GetResult& r) {
                net.defer(from, [&, from, r] {
                    out += "get " + std::to_string(r.ok) + " " + std::to_string(r.elapsed.count()) +
                           "\n";
                    ++done;
                    churn.release(from);
                });
            });
        });
    }
    churn.run_until([&] { return done == kValues; }, 5min);
    churn.run_for(3min);
    const auto& s = net.stats();
    out += "stats " + std::to_string(s.sent) + " " + std::to_string(s.delivered) + " " +
           std::to_string(s.lost) + " " + std::to_string(s.dropped_dead) + " " +
           std::to_string(s.dropped_nat) + " " + std::to_string(s.events) + " " +
           std::to_string(s.restarts) + " churn " + std::to_string(churn.departures()) + " " +
           std::to_string(churn.returns()) + " at " + std::to_string(net.elapsed().count()) + "\n";
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (!net.alive(i)) continue;
        out += std::to_string(i) + ":";
        for (const Contact* c : net.node(i).routing_table().all()) out += " " + c->id.short_hex();
        out += "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("a run on threads is the same on one to four, and works", "[sim][internet]") {
    const bool flat = GENERATE(false, true);
    const std::string one = threaded_run(1, flat);
    CHECK(threaded_run(2, flat) == one);
    CHECK(threaded_run(3, flat) == one);
    // More threads than this machine's two cores: a thread that loses its core lags, and the
    // others run its partitions.
    CHECK(threaded_run(4, flat) == one);
    // And it did what it should: everyone joined, the values were stored and found, nodes
    // left and came back.
    CHECK(one.starts_with("joined 150\n"));
    const auto count = [&](const std::string& what) {
        std::size_t n = 0;
        for (std::size_t at = one.find(what); at != std::string::npos; at = one.find(what, at + 1))
            ++n;
        return n;
    };
    CHECK(count("put 1 ") == 12);
    CHECK(count("get 1 ") >= 11);
    CHECK(one.find(" churn 0 ") == std::string::npos);
}

TEST_CASE("threads are set once, before any node, and need a least delay", "[sim]") {
    sim::Network late(1, sim::LinkModel{.latency = 1ms});
    late.add_node();
    CHECK_THROWS_AS(late.set_threads(2), std::logic_error);

    // No least delay: nothing to run is fine, a datagram is not.
    sim::Network instant(1, sim::LinkModel{.latency = Duration::zero()});
    instant.set_threads(2);
    const std::size_t x = instant.add_node();
    const std::size_t y = instant.add_node();
    instant.run_for(1s);
    instant.with(x, [&](Node& n, TimePoint now) {
        n.ping(now, instant.endpoint(y), std::nullopt, [](const PingResult&) {});
    });
    CHECK_THROWS_AS(instant.run_for(1s), std::logic_error);

    sim::Network tapped(1, sim::LinkModel{.latency = 1ms});
    tapped.set_threads(2);
    CHECK_THROWS_AS(tapped.set_tap([](std::size_t, const Endpoint&, std::string_view) {}),
                    std::logic_error);

    // A path shorter than the floor it promised: a datagram would cross into a window already
    // run, and the run says so rather than going on out of order.
    sim::Network liar(1, sim::LinkModel{.latency = 10ms});
    liar.set_threads(2);
    liar.set_path_delay([](std::size_t, std::size_t) { return Duration(100us); });
    liar.set_min_path_delay(5ms);
    const std::size_t a = liar.add_node();
    const std::size_t b = liar.add_node();
    liar.with(a, [&](Node& n, TimePoint now) {
        n.ping(now, liar.endpoint(b), std::nullopt, [](const PingResult&) {});
    });
    CHECK_THROWS_AS(liar.run_for(1s), std::logic_error);

    // Without set_threads() a deferred call runs at once.
    sim::Network serial(1);
    bool ran = false;
    serial.add_node();
    serial.defer(0, [&] { ran = true; });
    CHECK(ran);
}

namespace {

// Lookups for a point next to each slow host (its ID with the last bit flipped), each from up to
// four nodes it is 0.9-1.8 s away from, on the mainline preset's round trips without NAT, loss or
// churn: how many found the slow host, of how many.
struct SlowNearest {
    std::size_t lookups = 0, found = 0;
};

SlowNearest slow_nearest(std::size_t wait_nearest) {
    auto p = mainline();
    p.nat_share = 0;
    p.loss = 0;
    p.session_median = Duration::zero();
    auto model = std::make_shared<sim::InternetModel>(71, p);
    sim::Network net(71, model->link_model());
    sim::InternetModel::attach(net, model);
    NodeConfig config;
    config.lookup_wait_nearest = wait_nearest;
    const auto joined = sim::grow(net, 500, config, 2ms, 5min);
    REQUIRE(joined.size() == 500);
    net.run_for(1min);
    struct Run {
        NodeId target;
        std::optional<LookupResult> result;
    };
    std::vector<std::pair<std::size_t, std::size_t>> pairs;  // (from, slow host)
    // Each host's median round trip to the first 51 others: a slow host is slow to everyone.
    std::vector<double> median_to(net.size());
    for (std::size_t j = 0; j < net.size(); ++j) {
        std::vector<double> v;
        for (std::size_t i = 0; i < 51; ++i) {
            if (i != j) v.push_back(ms(model->rtt(i, j)));
        }
        median_to[j] = median(v);
    }
    for (std::size_t j = 0; j < net.size(); ++j) {
        if (median_to[j] < 800) continue;
        std::size_t origins = 0;
        for (std::size_t from = 0; from < net.size() && origins < 4; ++from) {
            const double rtt = ms(model->rtt(from, j));
            if (from != j && rtt > 900 && rtt < 1800 && median_to[from] < 250) {
                pairs.emplace_back(from, j);
                ++origins;
            }
        }
    }
    // Each origin first meets the network's round trips, slow tail and all (Rpc::slow_tail): a
    // node that has just joined has seen too few replies to know whether silence is slowness.
    std::size_t warm = 0, warmed = 0;
    for (const auto& pair : pairs) {
        const std::size_t from = pair.first;
        for (int i = 0; i < 20; ++i) {
            ++warm;
            const NodeId target = NodeId::random(net.rng());
            net.with(from, [&warmed, target](Node& n, TimePoint now) {
                n.lookup(now, target, [&warmed](const LookupResult&) { ++warmed; });
            });
        }
    }
    net.run_until([&] { return warmed == warm; }, 5min);
    std::vector<Run> runs;
    runs.reserve(pairs.size());  // each lookup's callback holds its run
    for (const auto& [from, j] : pairs) {
        auto bytes = net.node(j).id().bytes();
        bytes.back() ^= 1;
        runs.push_back({*NodeId::from_bytes(std::string_view(
                            reinterpret_cast<const char*>(bytes.data()), bytes.size())),
                        std::nullopt});
        Run& r = runs.back();
        net.with(from, [&r](Node& n, TimePoint now) {
            n.lookup(now, r.target, [&r](const LookupResult& res) { r.result = res; });
        });
    }
    net.run_until(
        [&] { return std::all_of(runs.begin(), runs.end(), [](auto& r) { return r.result; }); },
        5min);
    SlowNearest out;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        REQUIRE(runs[i].result);
        ++out.lookups;
        const auto& nodes = runs[i].result->nodes;
        if (!nodes.empty() && nodes.front().id == net.node(pairs[i].second).id()) ++out.found;
    }
    return out;
}

}  // namespace

TEST_CASE(
    "patience: a lookup finds its nearest node on a slow host, which soft timeouts alone miss",
    "[sim][internet]") {
    const SlowNearest patient = slow_nearest(NodeConfig{}.lookup_wait_nearest);
    const SlowNearest hasty = slow_nearest(0);
    WARN("slow nearest: " << patient.found << " of " << patient.lookups << " found with patience, "
                          << hasty.found << " without");
    CHECK(patient.lookups >= 5);
    CHECK(patient.found == patient.lookups);
    CHECK(hasty.found < hasty.lookups);
}
