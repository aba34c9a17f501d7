// kadsim: builds a simulated network of N nodes by real bootstraps, stores values, optionally
// kills a fraction of the nodes, then runs lookups and gets, and prints one JSON object.
// Everything runs in virtual time on kad::sim::Network: deterministic for a seed. --internet
// (kad/sim/internet.hpp) puts it on a simulated Internet: round trips, NAT, loss and churn.

#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kad/lookup.hpp"
#include "kad/node_config.hpp"
#include "kad/sim/internet.hpp"
#include "kad/sim/network.hpp"

namespace po = boost::program_options;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::size_t nodes = 1000;
    std::size_t lookups = 200;
    std::size_t puts = 100;
    double kill = 0.0;
    double loss = 0.0;
    double latency_ms = 1.0;
    std::uint64_t seed = 1;
    // The lookup's rules: the node's defaults unless given.
    std::size_t k = kad::NodeConfig{}.k;
    std::size_t alpha = kad::NodeConfig{}.alpha;
    int attempts = kad::NodeConfig{}.lookup_attempts;
    double soft_quantile = kad::NodeConfig{}.soft_timeout_quantile;
    std::size_t wait_nearest = kad::NodeConfig{}.lookup_wait_nearest;
    std::size_t wait_max_silent = kad::NodeConfig{}.lookup_wait_max_silent;
    std::string cdf;          // where to write each lookup's latency and bound
    bool probe_ports = true;  // nodes verify queriers from a second port
    unsigned threads = 1;
    // A simulated Internet (kad/sim/internet.hpp): round trips from coordinates when
    // internet.rtt_median > 0, NAT, churn. Resolved from --internet and the options that follow.
    std::string internet_name;
    kad::sim::InternetParams internet;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const auto hi = static_cast<std::size_t>(std::ceil(rank));
    return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

// One line per lookup, "latency_ms bound_ms", for tools/bench/plot_cdf.
void write_cdf(const std::string& path, const std::vector<double>& latency,
               const std::vector<double>& bound) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) {
        std::perror(("kadsim: " + path).c_str());
        return;
    }
    std::fprintf(f, "latency_ms bound_ms\n");
    for (std::size_t i = 0; i < latency.size(); ++i) {
        std::fprintf(f, "%.3f %.3f\n", latency[i], bound[i]);
    }
    std::fclose(f);
}

// From this many nodes on, kadsim asks for transparent huge pages (below).
constexpr std::size_t kHugePagesFrom = 10000;

// A large run spends its time in cache and TLB misses over gigabytes of simulated nodes; with
// the heap in 2 MiB pages (fewer TLB misses, we suppose) 100,000 mainline nodes on two threads
// take 10 to 12.5 % less wall time (docs/BENCHMARKS.md, "Tenth round"). glibc gives its heap huge
// pages only when told at start, by GLIBC_TUNABLES, so kadsim starts itself again once with
// glibc.malloc.hugetlb=1 added, unless GLIBC_TUNABLES already says (glibc.malloc.hugetlb=0 keeps
// normal pages). Where that fails, it goes on as it is.
void restart_with_huge_pages(char** argv) {
    // Set-user-ID, glibc drops GLIBC_TUNABLES at start: it would start itself again and again.
    if (getauxval(AT_SECURE) != 0) return;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread
    const char* had = std::getenv("GLIBC_TUNABLES");
    const std::string before = had ? had : "";
    if (before.find("glibc.malloc.hugetlb") != std::string::npos) return;
    const std::string tunables = before + (before.empty() ? "" : ":") + "glibc.malloc.hugetlb=1";
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    if (setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) return;
    execv("/proc/self/exe", argv);
    if (had) {
        setenv("GLIBC_TUNABLES", before.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
        unsetenv("GLIBC_TUNABLES");  // NOLINT(concurrency-mt-unsafe)
    }
}

// What the joins cost, from the nodes' own counters once every node has joined, over the
// nodes: the queries sent by method, the lookups (each node's own ID, its refreshes), and how
// many of the pings were second-port probes. Everything the network sent while it was built is
// in it (the first node's answers to later joins, the pings that joins set off), so it is the
// network's cost a join (docs/BENCHMARKS.md, "What bounds the 100,000-node run").
struct JoinCost {
    std::array<double, kad::krpc::kMethods> queries{};
    double lookups = 0;
    double probes = 0;
};

JoinCost join_cost(kad::sim::Network& net) {
    JoinCost c;
    if (net.size() == 0) return c;
    for (std::size_t i = 0; i < net.size(); ++i) {
        const kad::NodeStats& s = net.node(i).stats();
        for (std::size_t m = 0; m < c.queries.size(); ++m) {
            c.queries[m] += static_cast<double>(s.queries_out[m]);
        }
        c.lookups += static_cast<double>(s.lookups_started);
        c.probes += static_cast<double>(s.reach_probes);
    }
    const auto n = static_cast<double>(net.size());
    for (double& q : c.queries) q /= n;
    c.lookups /= n;
    c.probes /= n;
    return c;
}

// "join_queries_per_node":{"ping":..,"find_node":..},... : the methods sent, in their order.
std::string join_json(const JoinCost& c) {
    std::string out = "\"join_queries_per_node\":{";
    bool first = true;
    char buf[64];
    for (std::size_t m = 0; m < c.queries.size(); ++m) {
        if (c.queries[m] == 0) continue;
        const auto name = kad::krpc::method_name(static_cast<kad::krpc::Method>(m));
        std::snprintf(buf, sizeof buf, "%s\"%.*s\":%.2f", first ? "" : ",",
                      static_cast<int>(name.size()), name.data(), c.queries[m]);
        out += buf;
        first = false;
    }
    std::snprintf(buf, sizeof buf, "},\"join_lookups_per_node\":%.2f,", c.lookups);
    out += buf;
    std::snprintf(buf, sizeof buf, "\"join_probes_per_node\":%.2f", c.probes);
    out += buf;
    return out;
}

long peak_rss_kb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// The nodes' configuration; main() checks it with config_error() before the run.
kad::NodeConfig node_config(const Options& o) {
    kad::NodeConfig config;
    config.k = o.k;
    config.alpha = o.alpha;
    config.lookup_attempts = o.attempts;
    config.soft_timeout_quantile = o.soft_quantile;
    config.lookup_wait_nearest = o.wait_nearest;
    config.lookup_wait_max_silent = o.wait_max_silent;
    return config;
}

int run(const Options& o) {
    const auto wall_start = std::chrono::steady_clock::now();
    auto internet = std::make_shared<kad::sim::InternetModel>(o.seed, o.internet);
    const bool coordinates = o.internet.rtt_median > kad::Duration::zero();
    kad::sim::LinkModel model = internet->link_model();
    if (!coordinates) {  // today's flat latency
        model.latency = std::chrono::duration_cast<kad::Duration>(
            std::chrono::duration<double, std::milli>(o.latency_ms));
        model.jitter = model.latency / 2;
    }
    model.loss = o.loss;
    kad::sim::Network net(o.seed, model);
    // In windows, on o.threads threads; a zero latency leaves no window (one thread, serially).
    const unsigned threads = model.latency > kad::Duration::zero() || coordinates ? o.threads : 0;
    if (threads > 0) net.set_threads(threads);
    net.set_probe_ports(o.probe_ports);
    if (coordinates || o.internet.nat_share > 0) kad::sim::InternetModel::attach(net, internet);
    const kad::NodeConfig config = node_config(o);

    // ---- build the network by bootstraps ----
    const std::size_t joined_count = kad::sim::grow(net, o.nodes, config).size();
    const double bootstrap_virtual_s = std::chrono::duration<double>(net.elapsed()).count();
    const JoinCost join = join_cost(net);

    // A random live node other than `except`; `except` itself if it is the only one left.
    auto random_alive = [&](std::size_t except) {
        std::vector<std::size_t> live;
        for (std::size_t i = 0; i < net.size(); ++i) {
            if (net.alive(i) && i != except) live.push_back(i);
        }
        return live.empty() ? except : live[net.rng().uniform(live.size())];
    };

    // ---- puts ----
    struct PutRec {
        std::string key, value;
        bool ok = false;
        std::int64_t seq = -1;
        std::size_t from = 0;
        double latency_ms = 0;
    };
    std::vector<PutRec> puts(o.puts);
    std::size_t puts_done = 0;
    for (std::size_t p = 0; p < o.puts; ++p) {
        puts[p].key = "key-" + std::to_string(p);
        puts[p].value = "value-" + std::to_string(p) + "-" + std::to_string(o.seed);
        puts[p].from = random_alive(o.nodes);
        net.with(puts[p].from, [&, p](kad::Node& n, kad::TimePoint now) {
            n.put(now, puts[p].key, puts[p].value, {}, [&, p](const kad::PutResult& r) {
                net.defer(puts[p].from, [&, p, r] {
                    puts[p].ok = r.ok;
                    puts[p].seq = r.seq;
                    puts[p].latency_ms = kad::to_ms(r.elapsed);
                    ++puts_done;
                });
            });
        });
    }
    net.run_until([&] { return puts_done == o.puts; }, 600s);

    // ---- kill ----
    std::size_t killed = 0;
    const auto to_kill =
        static_cast<std::size_t>(std::llround(o.kill * static_cast<double>(o.nodes)));
    while (killed < to_kill && killed + 1 < o.nodes) {
        const std::size_t i = net.rng().uniform(net.size());
        if (!net.alive(i)) continue;
        net.kill(i);
        ++killed;
    }

    // ---- churn, from here to the end ----
    std::optional<kad::sim::Churn> churn;
    if (o.internet.session_median > kad::Duration::zero()) {
        churn.emplace(net, o.seed, o.internet);
        churn->start();
    }
    // A node measuring a lookup or a get stays online until it has its answer.
    const auto hold = [&](std::size_t i) {
        if (churn) churn->hold(i);
    };
    const auto release = [&](std::size_t i) {
        if (churn) churn->release(i);
    };

    // ---- lookups ----
    struct LookupRec {
        kad::NodeId target;
        std::size_t from = 0;
        bool done = false;
        kad::LookupResult result;
    };
    std::vector<LookupRec> lookups(o.lookups);
    std::size_t lookups_done = 0;
    for (auto& l : lookups) {
        l.target = kad::NodeId::random(net.rng());
        l.from = random_alive(o.nodes);
        hold(l.from);
        net.with(l.from, [&](kad::Node& n, kad::TimePoint now) {
            n.lookup(now, l.target, [&](const kad::LookupResult& r) {
                net.defer(l.from, [&, r] {
                    l.result = r;
                    l.done = true;
                    ++lookups_done;
                    release(l.from);
                });
            });
        });
    }

    // ---- gets, each from another node than its put ----
    struct GetRec {
        bool done = false;
        bool found = false;
        kad::GetResult result;
    };
    std::vector<GetRec> gets(o.puts);
    std::size_t gets_done = 0;
    for (std::size_t p = 0; p < o.puts; ++p) {
        const std::size_t from = random_alive(puts[p].from);
        hold(from);
        net.with(from, [&, p, from](kad::Node& n, kad::TimePoint now) {
            n.get(now, puts[p].key, [&, p, from](const kad::GetResult& r) {
                net.defer(from, [&, p, from, r] {
                    release(from);
                    gets[p].result = r;
                    gets[p].found = r.ok && r.item && r.item->value == puts[p].value &&
                                    r.item->seq == puts[p].seq;
                    gets[p].done = true;
                    ++gets_done;
                });
            });
        });
    }
    const auto all_done = [&] { return lookups_done == o.lookups && gets_done == o.puts; };
    if (churn) {
        churn->run_until(all_done, 600s);
    } else {
        net.run_until(all_done, 600s);
    }

    // ---- score against a brute-force view of the live network ----
    // (A node behind NAT is live but no lookup can be expected to reach it.)
    std::vector<std::pair<kad::NodeId, std::size_t>> live;
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (net.alive(i) && !net.behind_nat(i)) live.emplace_back(net.node(i).id(), i);
    }
    std::vector<double> hops, queries, latency, bound, ratio, got_hops, got_queries, got_latency,
        got_bound, got_ratio;
    std::size_t successes = 0;
    std::vector<double> missed_rtt;  // lookups that missed the nearest node: its round trip
    double recall_sum = 0;
    for (const auto& l : lookups) {
        if (!l.done) continue;
        std::vector<kad::NodeId> truth;
        truth.reserve(live.size());
        for (const auto& [id, i] : live) {
            if (i != l.from) truth.push_back(id);
        }
        const std::size_t want = std::min(o.k, truth.size());
        std::partial_sort(truth.begin(), truth.begin() + static_cast<std::ptrdiff_t>(want),
                          truth.end(), kad::CloserTo{l.target});
        truth.resize(want);
        std::size_t hit = 0;
        bool closest_found = false;
        for (const auto& n : l.result.nodes) {
            if (std::find(truth.begin(), truth.end(), n.id) != truth.end()) ++hit;
            if (!truth.empty() && n.id == truth.front()) closest_found = true;
        }
        if (closest_found) ++successes;
        if (!closest_found && !truth.empty()) {
            // What kept it from the nearest node: the round trip between the two.
            const auto nearest = std::find_if(
                live.begin(), live.end(), [&](const auto& e) { return e.first == truth.front(); });
            missed_rtt.push_back(coordinates ? kad::to_ms(internet->rtt(l.from, nearest->second))
                                             : 2.5 * o.latency_ms);  // the flat median
        }
        recall_sum += want ? static_cast<double>(hit) / static_cast<double>(want) : 1.0;
        hops.push_back(l.result.hops);
        queries.push_back(static_cast<double>(l.result.queries));
        latency.push_back(kad::to_ms(l.result.elapsed));
        bound.push_back(kad::to_ms(l.result.bound));
        if (l.result.bound > kad::Duration::zero()) ratio.push_back(latency.back() / bound.back());
    }
    if (!o.cdf.empty()) write_cdf(o.cdf, latency, bound);
    std::size_t found = 0;
    for (const auto& g : gets) {
        if (g.found) ++found;
        if (!g.done) continue;
        got_hops.push_back(g.result.hops);
        got_queries.push_back(static_cast<double>(g.result.queries));
        got_latency.push_back(kad::to_ms(g.result.elapsed));
        // A get's bound: the round trips on the path to the value (none if it had no value).
        if (g.result.bound > kad::Duration::zero()) {
            got_bound.push_back(kad::to_ms(g.result.bound));
            got_ratio.push_back(got_latency.back() / got_bound.back());
        }
    }
    std::size_t puts_ok = 0;
    std::vector<double> put_latency;
    for (const auto& p : puts) {
        puts_ok += p.ok ? 1 : 0;
        put_latency.push_back(p.latency_ms);
    }

    // The flat model's round trip: twice the latency plus the sum of two uniform jitters in
    // [0, j] (j = latency / 2), whose median is j and whose 99th percentile is (2 - sqrt(0.02)) j.
    const double jitter_ms = o.latency_ms / 2;
    const double rtt_p50 = coordinates ? internet->sampled_rtt_ms(net.size(), 50, o.seed)
                                       : 2 * o.latency_ms + jitter_ms;
    const double rtt_p99 = coordinates ? internet->sampled_rtt_ms(net.size(), 99, o.seed)
                                       : 2 * o.latency_ms + (2 - std::sqrt(0.02)) * jitter_ms;
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    const long rss_kb = peak_rss_kb();
    const auto rate = [](std::size_t a, std::size_t b) {
        return b ? static_cast<double>(a) / static_cast<double>(b) : 1.0;
    };
    std::printf(
        "{\"nodes\":%zu,\"joined\":%zu,\"killed\":%zu,\"lookups\":%zu,\"puts\":%zu,"
        "\"puts_ok\":%zu,\"success_rate\":%.4f,\"recall\":%.4f,"
        "\"hops_p50\":%.1f,\"hops_p99\":%.1f,\"queries_p50\":%.1f,\"queries_p99\":%.1f,"
        "\"latency_ms_p50\":%.2f,\"latency_ms_p99\":%.2f,\"values_found_rate\":%.4f,"
        "\"get_hops_p50\":%.1f,\"get_queries_p50\":%.1f,\"get_latency_ms_p50\":%.2f,"
        "\"bound_ms_p50\":%.2f,\"bound_ms_p99\":%.2f,\"bound_ratio_p50\":%.3f,"
        "\"bound_ratio_p99\":%.3f,\"get_bound_ms_p50\":%.2f,\"get_bound_ratio_p50\":%.3f,"
        "\"put_latency_ms_p50\":%.2f,\"put_latency_ms_p99\":%.2f,"
        "\"bootstrap_virtual_s\":%.2f,\"virtual_s\":%.2f,\"datagrams\":%llu,"
        "\"loss\":%.3f,\"latency_ms\":%.2f,\"seed\":%llu,\"wall_s\":%.2f,\"peak_rss_kb\":%ld,"
        "\"peak_rss_kb_per_node\":%.1f,\"threads\":%u",
        o.nodes, joined_count, killed, lookups.size(), o.puts, puts_ok,
        rate(successes, lookups.size()),
        lookups.empty() ? 1.0 : recall_sum / static_cast<double>(lookups.size()),
        percentile(hops, 50), percentile(hops, 99), percentile(queries, 50),
        percentile(queries, 99), percentile(latency, 50), percentile(latency, 99),
        rate(found, o.puts), percentile(got_hops, 50), percentile(got_queries, 50),
        percentile(got_latency, 50), percentile(bound, 50), percentile(bound, 99),
        percentile(ratio, 50), percentile(ratio, 99), percentile(got_bound, 50),
        percentile(got_ratio, 50), percentile(put_latency, 50), percentile(put_latency, 99),
        bootstrap_virtual_s, std::chrono::duration<double>(net.elapsed()).count(),
        static_cast<unsigned long long>(net.stats().sent), o.loss,
        coordinates ? rtt_p50 / 2 : o.latency_ms, static_cast<unsigned long long>(o.seed), wall_s,
        rss_kb, static_cast<double>(rss_kb) / static_cast<double>(o.nodes), std::max(threads, 1U));
    // The simulated Internet: the model's pair round trips (sampled over the nodes, without the
    // per-datagram jitter), NAT and churn.
    std::size_t nat_nodes = 0, online_end = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
        nat_nodes += net.behind_nat(i) ? 1 : 0;
        online_end += net.alive(i) ? 1 : 0;
    }
    std::printf(
        ",\"internet\":\"%s\",\"rtt_ms_p50\":%.1f,\"rtt_ms_p99\":%.1f,\"nat_share\":%.3f,"
        "\"nat_nodes\":%zu,\"dropped_nat\":%llu,\"churn_events\":%llu,"
        "\"churn_departures\":%llu,\"churn_returns\":%llu,\"online_end\":%zu,"
        "\"missed_nearest\":%zu,\"missed_nearest_rtt_ms_min\":%.1f,"
        "\"missed_nearest_rtt_ms_p50\":%.1f,\"events\":%llu,%s}\n",
        o.internet_name.empty() ? "none" : o.internet_name.c_str(), rtt_p50, rtt_p99,
        o.internet.nat_share, nat_nodes, static_cast<unsigned long long>(net.stats().dropped_nat),
        static_cast<unsigned long long>(churn ? churn->departures() + churn->returns() : 0),
        static_cast<unsigned long long>(churn ? churn->departures() : 0),
        static_cast<unsigned long long>(churn ? churn->returns() : 0), online_end,
        missed_rtt.size(),
        missed_rtt.empty() ? 0.0 : *std::min_element(missed_rtt.begin(), missed_rtt.end()),
        percentile(missed_rtt, 50), static_cast<unsigned long long>(net.stats().events),
        join_json(join).c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    o.threads = std::clamp(std::thread::hardware_concurrency(), 1U, 64U);
    po::options_description desc(
        "kadsim: a simulated Kademlia network in virtual time.\n"
        "Builds N nodes by real bootstraps, puts P values (each then got from another random\n"
        "node), optionally kills a fraction of the nodes after the puts, runs L lookups of\n"
        "random IDs, and prints one JSON object. From 10,000 nodes on it asks for transparent\n"
        "huge pages (it starts itself again with GLIBC_TUNABLES=glibc.malloc.hugetlb=1, unless\n"
        "GLIBC_TUNABLES names glibc.malloc.hugetlb already; glibc 2.35 or later, and the\n"
        "kernel's transparent_hugepage not \"never\").\n\nOptions");
    desc.add_options()("help,h", "print this help")(
        "nodes", po::value(&o.nodes)->default_value(o.nodes), "number of nodes N")(
        "lookups", po::value(&o.lookups)->default_value(o.lookups), "find_node lookups L")(
        "puts", po::value(&o.puts)->default_value(o.puts), "puts P, each followed by a get")(
        "kill", po::value(&o.kill)->default_value(o.kill),
        "fraction of nodes killed after the puts, before the lookups and gets")(
        "loss", po::value(&o.loss)->default_value(o.loss), "datagram loss rate, 0 to 1")(
        "latency-ms", po::value(&o.latency_ms)->default_value(o.latency_ms),
        "one-way latency in ms (plus up to half as much jitter)")(
        "seed", po::value(&o.seed)->default_value(o.seed), "random seed")(
        "k", po::value(&o.k)->default_value(o.k), "bucket size and replication")(
        "alpha", po::value(&o.alpha)->default_value(o.alpha), "lookup parallelism")(
        "attempts", po::value(&o.attempts)->default_value(o.attempts),
        "queries a lookup may send to one of the k nearest candidates (1 to 255)")(
        "soft-timeout-quantile", po::value(&o.soft_quantile)->default_value(o.soft_quantile),
        "the soft timeout of a query to a node without RTT samples: this quantile of the last "
        "128 round trips, and a quarter")(
        "wait-nearest", po::value(&o.wait_nearest)->default_value(o.wait_nearest),
        "patience: a converged lookup waits for a silent candidate among this many nearest "
        "until its first query's hard timeout, not only its soft timeouts, on a node that has "
        "seen a slow tail of round trips (0: never)")(
        "wait-max-silent", po::value(&o.wait_max_silent)->default_value(o.wait_max_silent),
        "patience only while at most this many of the k nearest are silent")(
        "cdf", po::value(&o.cdf),
        "write each lookup's latency and bound (ms) to this file, for tools/bench/plot_cdf")(
        "threads", po::value(&o.threads)->default_value(o.threads),
        "threads to run the nodes on (default: the cores). The figures do not depend on it; a "
        "zero --latency-ms runs on one")(
        "no-probe-port", po::bool_switch(),
        "nodes verify queriers from their own port, not a second one (kadnode --no-probe-port): "
        "nodes behind NAT then enter tables");

    // The simulated Internet: a preset, then any of its parts set one by one.
    std::string internet;
    double rtt_median_ms = 0, nat_share = 0, nat_timeout_s = 0;
    double session_median_min = 0, session_shape = 0, off_median_min = 0, off_shape = 0;
    po::options_description net_desc(
        "A simulated Internet (each option overrides the preset's value; without --internet,\n"
        "latency stays flat (--latency-ms) unless --rtt-median-ms is given)");
    net_desc.add_options()("internet", po::value(&internet),
                           "preset: mainline (the BitTorrent mainline DHT as measured: round "
                           "trips, NAT, loss, churn)")(
        "rtt-median-ms", po::value(&rtt_median_ms),
        "median pair round trip in ms, from synthetic coordinates with a heavy tail")(
        "nat-share", po::value(&nat_share), "share of nodes behind NAT, 0 to 1")(
        "nat-timeout-s", po::value(&nat_timeout_s), "NAT mapping timeout in seconds")(
        "churn-session-median-min", po::value(&session_median_min),
        "median session length in minutes (Weibull); 0: no churn")(
        "churn-session-shape", po::value(&session_shape), "Weibull shape of session lengths")(
        "churn-off-median-min", po::value(&off_median_min),
        "median off-time in minutes before a node comes back (Weibull)")(
        "churn-off-shape", po::value(&off_shape), "Weibull shape of off-times");
    desc.add(net_desc);
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "kadsim: " << e.what() << "\n";
        return 2;
    }
    o.probe_ports = !vm["no-probe-port"].as<bool>();
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    if (o.nodes < 2 || o.kill < 0 || o.kill >= 1 || o.loss < 0 || o.loss >= 1 || o.latency_ms < 0 ||
        o.k == 0 || o.alpha == 0 || !(o.soft_quantile > 0 && o.soft_quantile <= 1) ||
        o.threads == 0 || o.threads > 64 || o.attempts < 1 ||
        o.attempts > kad::Lookup::kMaxAttempts) {
        std::cerr << "kadsim: need --nodes >= 2, 0 <= --kill < 1, 0 <= --loss < 1, "
                     "--latency-ms >= 0, --k >= 1, --alpha >= 1, "
                     "0 < --soft-timeout-quantile <= 1, 1 <= --threads <= 64, "
                     "1 <= --attempts <= "
                  << kad::Lookup::kMaxAttempts << "\n";
        return 2;
    }
    if (const auto why = kad::config_error(node_config(o)); !why.empty()) {
        std::cerr << "kadsim: " << why << "\n";
        return 2;
    }
    // ---- the simulated Internet ----
    o.internet.rtt_median = kad::Duration::zero();  // flat latency unless asked
    if (vm.count("internet")) {
        const auto preset = kad::sim::internet_preset(internet);
        if (!preset) {
            std::cerr << "kadsim: unknown --internet '" << internet << "'; presets:";
            for (const auto& name : kad::sim::internet_presets()) std::cerr << " " << name;
            std::cerr << "\n";
            return 2;
        }
        o.internet_name = internet;
        o.internet = *preset;
        if (!vm.count("loss") || vm["loss"].defaulted()) o.loss = o.internet.loss;
    }
    const auto minutes = [](double m) {
        return std::chrono::duration_cast<kad::Duration>(std::chrono::duration<double>(m * 60));
    };
    if (vm.count("rtt-median-ms")) {
        if (!(rtt_median_ms > 0 && rtt_median_ms <= 10000)) {
            std::cerr << "kadsim: need 0 < --rtt-median-ms <= 10000\n";
            return 2;
        }
        o.internet.rtt_median = std::chrono::duration_cast<kad::Duration>(
            std::chrono::duration<double, std::milli>(rtt_median_ms));
    }
    if (vm.count("nat-share")) o.internet.nat_share = nat_share;
    if (vm.count("nat-timeout-s")) {
        o.internet.nat_timeout = nat_timeout_s > 0 ? minutes(nat_timeout_s / 60) : kad::Duration{};
    }
    if (vm.count("churn-session-median-min")) {
        o.internet.session_median = minutes(session_median_min);
        if (!vm.count("churn-off-median-min") && o.internet.off_median <= kad::Duration::zero()) {
            o.internet.off_median = o.internet.session_median;  // half the nodes online
        }
    }
    if (vm.count("churn-session-shape")) o.internet.session_shape = session_shape;
    if (vm.count("churn-off-median-min")) o.internet.off_median = minutes(off_median_min);
    if (vm.count("churn-off-shape")) o.internet.off_shape = off_shape;
    o.internet.loss = o.loss;
    const auto& in = o.internet;
    const bool churn = in.session_median > kad::Duration::zero();
    if (!(in.nat_share >= 0 && in.nat_share < 1) || in.nat_timeout <= kad::Duration::zero() ||
        session_median_min < 0 || off_median_min < 0 ||
        (churn && in.off_median <= kad::Duration::zero()) ||
        !(in.session_shape >= 0.1 && in.session_shape <= 10) ||
        !(in.off_shape >= 0.1 && in.off_shape <= 10)) {
        std::cerr << "kadsim: need 0 <= --nat-share < 1, --nat-timeout-s > 0, churn medians >= 0 "
                     "(with churn, --churn-off-median-min > 0), 0.1 <= churn shapes <= 10\n";
        return 2;
    }
    if (o.nodes >= kHugePagesFrom) restart_with_huge_pages(argv);
    return run(o);
}
