// kadmicro: micro-benchmarks of the node's hot paths, on Google Benchmark.
//
//   kadmicro                                  every benchmark, 0.2 s each (about ten seconds)
//   kadmicro --benchmark_filter=Decode        the KRPC decoders only
//   kadmicro --benchmark_min_time=2           longer runs, steadier figures
//
// - BM_Decode/<message>, BM_Encode/<message>: krpc::decode (into a reused bencode::Document, as
//   the node decodes) and krpc::encode_to (into a reused buffer, as the node encodes) of each
//   KRPC message, built as this node builds them.
// - BM_Closest: RoutingTable::closest(target, 20) on a table offered random contacts until it
//   turned away kStallAfter in a row.
// - BM_HandleDatagram/<query>: Node::handle_datagram answering a query from a stranger, on a node
//   holding that same table and kItems stored items, rate limiting off (kadnode --rate-limit 0).
//   The node gets a fixed `now`: nothing falls due, so every iteration is one query and its reply.
//
// Everything is seeded: two runs measure the same work. The node and the table are built on first
// use, so a --benchmark_filter that leaves them out does not pay for them.

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kad/bencode.hpp"
#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/node.hpp"
#include "kad/node_id.hpp"
#include "kad/random.hpp"
#include "kad/routing_table.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"

namespace {

namespace krpc = kad::krpc;

constexpr std::size_t kClosest = 20;         // closest(target, kClosest): the node's k
constexpr std::size_t kStallAfter = 20'000;  // offers turned away in a row: the table is full
constexpr std::size_t kItems = 1'000;        // items the benchmarked node holds
constexpr std::size_t kValueSize = 100;      // bytes in a stored value
constexpr std::size_t kStrangers = 1'024;    // distinct senders of the node's queries
constexpr std::size_t kTargets = 1'024;      // lookup targets, cycled through
const std::string kVersion("KN\x00\x01", 4);

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "kadmicro: %s\n", what.c_str());
    std::exit(EXIT_FAILURE);
}

struct Peer {
    kad::NodeId id;
    kad::Endpoint endpoint;
};

// A public unicast IPv4 address: the routing table's per-address limits exempt local ranges, and
// a real table is made of public addresses.
kad::Endpoint random_public_endpoint(kad::RandomSource& rng) {
    for (;;) {
        const auto a = static_cast<std::uint32_t>(rng.next_u64());
        const std::array<std::uint8_t, 4> addr{
            static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
            static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)};
        const auto port = static_cast<std::uint16_t>(1024 + rng.uniform(64'000));
        const kad::Endpoint ep = kad::Endpoint::v4(addr, port);
        if (addr[0] != 0 && addr[0] < 224 && !ep.is_private() && !ep.is_loopback() &&
            !ep.is_unusable()) {
            return ep;
        }
    }
}

Peer random_peer(kad::RandomSource& rng) {
    const kad::NodeId id = kad::NodeId::random(rng);
    return {id, random_public_endpoint(rng)};
}

std::vector<kad::NodeId> random_targets(kad::RandomSource& rng) {
    std::vector<kad::NodeId> targets;
    for (std::size_t i = 0; i < kTargets; ++i) targets.push_back(kad::NodeId::random(rng));
    return targets;
}

std::string random_value(kad::RandomSource& rng) {
    std::string v(kValueSize, '\0');
    for (char& c : v) c = static_cast<char>('a' + rng.uniform(26));
    return v;
}

std::string transaction_id(std::size_t i) {
    return {static_cast<char>(i >> 8), static_cast<char>(i)};
}

// ---- KRPC messages ------------------------------------------------------------------------------

struct MessageCase {
    std::string name;
    krpc::Message message;
    std::string bytes;  // its canonical encoding
};

krpc::Message framed(std::variant<krpc::Query, krpc::Response, krpc::Error> body,
                     std::optional<kad::Endpoint> requester = std::nullopt) {
    krpc::Message m;
    m.transaction = transaction_id(0x2a17);
    m.version = kVersion;
    m.requester = requester;  // a responder tells the asker its address (BEP 42), as ours does
    m.body = std::move(body);
    return m;
}

// One of each message, as this node sends it: queries with a 2-byte transaction ID and our
// version, replies with the asker's address, node lists of the node's k (20) IPv4 contacts.
std::vector<MessageCase> message_cases() {
    kad::SeededRandom rng(1);
    const kad::NodeId self = kad::NodeId::random(rng);
    const kad::NodeId target = kad::NodeId::random(rng);
    const kad::Endpoint asker = random_public_endpoint(rng);
    std::vector<krpc::NodeInfo> nodes;
    for (std::size_t i = 0; i < kClosest; ++i) {
        const Peer p = random_peer(rng);
        nodes.push_back({p.id, p.endpoint});
    }
    const std::string token = "\x8f\x03\x11\xa0\x5c\xe2\x7b\x49";  // 8 bytes, as the node's
    const krpc::Item item{"bench/item/0001", random_value(rng), 3};

    krpc::StoreArgs store;
    store.target = kad::NodeId::from_key(item.key);
    store.token = token;
    store.key = item.key;
    store.value = item.value;
    store.seq = item.seq;

    std::vector<MessageCase> cases;
    auto add = [&](std::string name, krpc::Message m) {
        cases.push_back({std::move(name), std::move(m), {}});
    };
    add("ping_query", framed(krpc::Query{self, krpc::PingArgs{}}));
    add("find_node_query", framed(krpc::Query{self, krpc::FindNodeArgs{target, std::nullopt}}));
    add("find_value_query", framed(krpc::Query{self, krpc::FindValueArgs{target, std::nullopt}}));
    add("store_query", framed(krpc::Query{self, store}));
    add("ping_reply", framed(krpc::Response{self, {}, std::nullopt, std::nullopt}, asker));
    add("find_node_reply", framed(krpc::Response{self, nodes, std::nullopt, std::nullopt}, asker));
    // A holder sends the item and, beside it, the nodes that fit one datagram (all 20 here).
    add("find_value_reply_value", framed(krpc::Response{self, nodes, token, item}, asker));
    add("find_value_reply_nodes", framed(krpc::Response{self, nodes, token, std::nullopt}, asker));
    add("error_reply", framed(krpc::Error{krpc::kProtocolError, "bad token"}));

    for (auto& c : cases) {
        c.bytes = krpc::encode(c.message);
        auto back = krpc::decode(c.bytes);
        if (!back) die(c.name + ": does not decode: " + back.error().reason);
        if (!(*back == c.message)) die(c.name + ": decodes to another message");
    }
    return cases;
}

void bm_decode(benchmark::State& state, const MessageCase& c) {
    kad::bencode::Document scratch;
    const krpc::Limits limits;
    for (auto _ : state) {
        auto m = krpc::decode(c.bytes, scratch, limits);
        benchmark::DoNotOptimize(m);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(c.bytes.size()));
    state.counters["size"] = static_cast<double>(c.bytes.size());
}

void bm_encode(benchmark::State& state, const MessageCase& c) {
    std::string out;
    for (auto _ : state) {
        out.clear();
        krpc::encode_to(out, c.message);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();  // the bytes written count as used
    }
    if (out != c.bytes) die(c.name + ": encode_to differs from encode");
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(c.bytes.size()));
    state.counters["size"] = static_cast<double>(c.bytes.size());
}

// ---- A full routing table -----------------------------------------------------------------------

struct FullTable {
    kad::NodeId self;
    std::vector<Peer> contacts;  // in the order the table took them
    std::unique_ptr<kad::RoutingTable> table;
};

// Offers random contacts, as replies from them would, until kStallAfter in a row are turned away:
// the buckets a random ID reaches within that many tries are full, as in a network of some
// 20 x kStallAfter nodes.
FullTable fill_table(kad::TimePoint now) {
    kad::SeededRandom rng(2);
    FullTable ft;
    ft.self = kad::NodeId::random(rng);
    kad::RoutingConfig config;
    config.k = kClosest;
    ft.table = std::make_unique<kad::RoutingTable>(ft.self, config, now);
    for (std::size_t misses = 0; misses < kStallAfter;) {
        const Peer p = random_peer(rng);
        const std::size_t before = ft.table->size();
        ft.table->on_answered(now, p.id, p.endpoint, std::chrono::milliseconds(30));
        if (ft.table->size() > before) {
            ft.contacts.push_back(p);
            misses = 0;
        } else {
            ++misses;
        }
    }
    return ft;
}

void bm_closest(benchmark::State& state, const FullTable& ft) {
    kad::SeededRandom rng(3);
    const std::vector<kad::NodeId> targets = random_targets(rng);
    std::vector<const kad::Contact*> out;
    ft.table->closest(targets[0], kClosest, out);
    if (out.size() != kClosest) die("closest() on the full table returned too few contacts");
    std::size_t i = 0;
    for (auto _ : state) {
        ft.table->closest(targets[i], kClosest, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
        if (++i == targets.size()) i = 0;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["contacts"] = static_cast<double>(ft.table->size());
    state.counters["buckets"] = static_cast<double>(ft.table->bucket_count());
}

// ---- A node answering queries -------------------------------------------------------------------

// Counts what the node sends. It keeps copies only while asked to (set-up and checks), so that
// the timed loops discard every datagram and memory stays flat.
class SinkTransport final : public kad::Transport {
public:
    struct Sent {
        kad::Endpoint to;
        std::string bytes;
    };
    void send(const kad::Endpoint& to, std::string_view datagram) override {
        ++sent_;
        bytes_ += datagram.size();
        if (keep_) kept_.push_back({to, std::string(datagram)});
    }
    void keep(bool on) {
        keep_ = on;
        kept_.clear();
    }
    std::vector<Sent> take() { return std::exchange(kept_, {}); }
    std::uint64_t bytes() const { return bytes_; }

private:
    bool keep_ = false;
    std::vector<Sent> kept_;
    std::uint64_t sent_ = 0;
    std::uint64_t bytes_ = 0;
};

enum class QueryKind : std::uint8_t { FindNode, FindValueHeld, FindValueMissing };
constexpr std::array<std::pair<QueryKind, const char*>, 3> kQueryKinds{{
    {QueryKind::FindNode, "find_node"},
    {QueryKind::FindValueHeld, "find_value_held"},
    {QueryKind::FindValueMissing, "find_value_missing"},
}};

struct Datagram {
    kad::Endpoint from;
    std::string bytes;
};

struct NodeBench {
    SinkTransport transport;
    kad::SeededRandom rng{4};
    kad::TimePoint now;
    std::unique_ptr<kad::Node> node;
    std::vector<Peer> strangers;
    std::vector<std::string> keys;  // of the items it holds
    std::array<std::vector<Datagram>, kQueryKinds.size()> queries;
};

// The node's answer (not a query of its own) to the message with transaction `t` from `to`.
std::optional<krpc::Message> answer_in(const std::vector<SinkTransport::Sent>& sent,
                                       const kad::Endpoint& to, std::string_view t) {
    for (const auto& s : sent) {
        if (s.to != to) continue;
        auto m = krpc::decode(s.bytes);
        if (m && m->transaction == t && !std::holds_alternative<krpc::Query>(m->body)) {
            return std::move(*m);
        }
    }
    return std::nullopt;
}

const krpc::Response& expect_response(const std::optional<krpc::Message>& m,
                                      const std::string& what) {
    if (!m) die(what + ": the node sent no answer");
    if (const auto* e = std::get_if<krpc::Error>(&m->body)) {
        die(what + ": the node answered error " + std::to_string(e->code) + " " + e->message);
    }
    return std::get<krpc::Response>(m->body);
}

// Lets the node meet each contact of the full table the way it meets any: it pings, the contact
// answers.
void introduce(NodeBench& nb, const FullTable& ft) {
    for (const Peer& p : ft.contacts) {
        nb.node->ping(nb.now, p.endpoint, p.id, [](const kad::PingResult&) {});
        const auto sent = nb.transport.take();
        if (sent.size() != 1) die("the node did not send the ping it was asked for");
        auto ping = krpc::decode(sent[0].bytes);
        if (!ping) die("the node's ping does not decode: " + ping.error().reason);
        krpc::Message pong;
        pong.transaction = ping->transaction;
        pong.version = kVersion;
        pong.body = krpc::Response{p.id, {}, std::nullopt, std::nullopt};
        nb.node->handle_datagram(nb.now, p.endpoint, krpc::encode(pong));
    }
    nb.transport.take();
    if (nb.node->routing_table().size() != ft.table->size()) {
        die("the node took " + std::to_string(nb.node->routing_table().size()) + " of the " +
            std::to_string(ft.table->size()) + " contacts of the full table");
    }
}

// Strangers store kItems items on the node, each with a store query and the node's token.
void store_items(NodeBench& nb) {
    for (std::size_t i = 0; i < kItems; ++i) {
        const Peer& from = nb.strangers[i % nb.strangers.size()];
        krpc::StoreArgs a;
        a.key = "bench/item/" + std::to_string(i);
        a.target = kad::NodeId::from_key(a.key);
        a.token = nb.node->token_for(from.endpoint);
        a.value = random_value(nb.rng);
        a.seq = 1;
        krpc::Message m;
        m.transaction = transaction_id(i);
        m.body = krpc::Query{from.id, std::move(a)};
        nb.node->handle_datagram(nb.now, from.endpoint, krpc::encode(m));
        expect_response(answer_in(nb.transport.take(), from.endpoint, m.transaction),
                        "store " + std::to_string(i));
        nb.keys.push_back("bench/item/" + std::to_string(i));
    }
    if (nb.node->storage().size() != kItems) die("the node did not keep every item stored");
}

std::vector<Datagram> make_queries(NodeBench& nb, QueryKind kind) {
    std::vector<Datagram> out;
    for (std::size_t i = 0; i < nb.strangers.size(); ++i) {
        const Peer& from = nb.strangers[i];
        krpc::Query q;
        q.id = from.id;
        switch (kind) {
            case QueryKind::FindNode:
                q.args = krpc::FindNodeArgs{kad::NodeId::random(nb.rng), std::nullopt};
                break;
            case QueryKind::FindValueHeld:
                q.args = krpc::FindValueArgs{kad::NodeId::from_key(nb.keys[i % nb.keys.size()]),
                                             std::nullopt};
                break;
            case QueryKind::FindValueMissing:
                q.args = krpc::FindValueArgs{kad::NodeId::random(nb.rng), std::nullopt};
                break;
        }
        krpc::Message m;
        m.transaction = transaction_id(i);
        m.version = kVersion;
        m.body = std::move(q);
        out.push_back({from.endpoint, krpc::encode(m)});
    }
    return out;
}

// One query of the kind, answered as it must be: else the benchmark would time something else.
void check_answers(NodeBench& nb, QueryKind kind, const char* name) {
    const Datagram& d = nb.queries[static_cast<std::size_t>(kind)].front();
    const auto query = krpc::decode(d.bytes);
    nb.node->handle_datagram(nb.now, d.from, d.bytes);
    const auto answer = answer_in(nb.transport.take(), d.from, query->transaction);
    const krpc::Response& r = expect_response(answer, name);
    if (r.nodes.size() != kClosest) {
        die(std::string(name) + ": the answer carries " + std::to_string(r.nodes.size()) +
            " nodes, not " + std::to_string(kClosest));
    }
    if (kind == QueryKind::FindNode) return;
    if (!r.token) die(std::string(name) + ": the answer carries no token");
    if (kind == QueryKind::FindValueHeld && !r.item) {
        die(std::string(name) + ": the node holds the item but did not return it");
    }
    if (kind == QueryKind::FindValueMissing && r.item) {
        die(std::string(name) + ": the node returned an item it should not hold");
    }
}

std::unique_ptr<NodeBench> make_node_bench(const FullTable& ft, kad::TimePoint now) {
    auto nb = std::make_unique<NodeBench>();
    nb->now = now;
    kad::NodeConfig config;
    config.k = kClosest;
    config.rate_limit.enabled = false;  // as kadnode --rate-limit 0: measure the work, not drops
    nb->node = std::make_unique<kad::Node>(config, ft.self, nb->transport, nb->rng, now);
    nb->transport.keep(true);
    introduce(*nb, ft);
    for (std::size_t i = 0; i < kStrangers; ++i) nb->strangers.push_back(random_peer(nb->rng));
    store_items(*nb);
    for (const auto& [kind, name] : kQueryKinds) {
        nb->queries[static_cast<std::size_t>(kind)] = make_queries(*nb, kind);
        check_answers(*nb, kind, name);
    }
    nb->transport.keep(false);
    return nb;
}

void bm_handle_datagram(benchmark::State& state, NodeBench& nb, QueryKind kind, const char* name) {
    const auto& queries = nb.queries[static_cast<std::size_t>(kind)];
    const std::uint64_t answers_before = nb.node->stats().responses_out;
    const std::uint64_t bytes_before = nb.transport.bytes();
    std::int64_t bytes_in = 0;
    std::size_t i = 0;
    // handle_datagram's work ends in Transport::send, a virtual call the compiler cannot see
    // through: nothing here can be optimised away.
    for (auto _ : state) {
        const Datagram& d = queries[i];
        nb.node->handle_datagram(nb.now, d.from, d.bytes);
        bytes_in += static_cast<std::int64_t>(d.bytes.size());
        if (++i == queries.size()) i = 0;
    }
    const std::uint64_t answers = nb.node->stats().responses_out - answers_before;
    if (answers != static_cast<std::uint64_t>(state.iterations())) {
        die(std::string(name) + ": " + std::to_string(answers) + " answers to " +
            std::to_string(state.iterations()) + " queries");
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(bytes_in);
    const auto its = static_cast<double>(state.iterations());
    state.counters["out_bytes"] = static_cast<double>(nb.transport.bytes() - bytes_before) / its;
    state.counters["contacts"] = static_cast<double>(nb.node->routing_table().size());
    state.counters["items"] = static_cast<double>(nb.node->storage().size());
}

// ---- main ---------------------------------------------------------------------------------------

// What the benchmarks share, built on first use.
class Fixtures {
public:
    const FullTable& table() {
        if (!table_) table_ = fill_table(now_);
        return *table_;
    }
    NodeBench& node() {
        if (!node_) node_ = make_node_bench(table(), now_);
        return *node_;
    }

private:
    kad::TimePoint now_ = kad::TimePoint{} + std::chrono::hours(24);
    std::optional<FullTable> table_;
    std::unique_ptr<NodeBench> node_;
};

}  // namespace

int main(int argc, char** argv) {
    // A short default run; a --benchmark_min_time given on the command line comes later and wins.
    std::vector<char*> args(argv, argv + argc);
    std::string min_time = "--benchmark_min_time=0.2";
    args.insert(args.begin() + 1, min_time.data());
    int args_count = static_cast<int>(args.size());
    benchmark::Initialize(&args_count, args.data());
    if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return EXIT_FAILURE;

    const std::vector<MessageCase> cases = message_cases();
    for (const auto& c : cases) {
        benchmark::RegisterBenchmark(("BM_Decode/" + c.name).c_str(), bm_decode, c);
    }
    for (const auto& c : cases) {
        benchmark::RegisterBenchmark(("BM_Encode/" + c.name).c_str(), bm_encode, c);
    }
    Fixtures fixtures;
    benchmark::RegisterBenchmark("BM_Closest", [&fixtures](benchmark::State& state) {
        bm_closest(state, fixtures.table());
    });
    for (const auto& [kind, name] : kQueryKinds) {
        benchmark::RegisterBenchmark(
            ("BM_HandleDatagram/" + std::string(name)).c_str(),
            [&fixtures, kind = kind, name = name](benchmark::State& state) {
                bm_handle_datagram(state, fixtures.node(), kind, name);
            });
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return EXIT_SUCCESS;
}
