// The operation table and the operations on their own: the node's parts built by hand around a
// captured transport, replies written by the test, time passed in. No node, no network.

#include <algorithm>
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/maintenance.hpp"
#include "ops/hand_off.hpp"
#include "ops/operation.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

// A minimal operation: counts what reaches it; finishes on its first event if asked to.
class Probe final : public ops::Operation {
public:
    struct Counts {
        int events = 0, completions = 0;
        bool cancelled = false;
        RpcHandler handler;
        std::function<void()> on_complete;
    };
    explicit Probe(Counts& c) : c_(c) {}
    void start() override { c_.handler = handler(0); }
    void on_rpc(std::uint32_t, const NodeId&, const RpcEvent&) override {
        ++c_.events;
        finish();
    }
    void cancel() override {
        c_.cancelled = true;
        finish();
    }
    void complete() override {
        ++c_.completions;
        if (c_.on_complete) c_.on_complete();
    }

private:
    Counts& c_;
};

struct NoActions final : Maintenance::Actions {
    bool refresh(const NodeId&) override { return false; }
    bool republish(const StoredItem&, Duration) override { return false; }
    void hand_off(const StoredItem&, Duration, const NodeId&, const Endpoint&) override {}
    void ping(const PingRequest&) override {}
};

// The node's parts, as kad::Node wires them, for operations to run on.
struct Parts {
    NodeConfig config;
    NodeId self = id_from(1);
    TimePoint now{};
    CaptureTransport transport;
    SeededRandom rng{5};
    Logger log;
    NodeStats stats;
    RoutingTable table;
    Storage storage;
    Storage items;
    PeerStore peers;
    SeenSeq seen{100};
    Rpc rpc;
    ops::Operations ops;
    NoActions actions;
    Maintenance maintenance;
    std::string store_refusal;
    ops::Context ctx;

    explicit Parts(NodeConfig c)
        : config(c),
          table(self, config.routing, now),
          storage(config.storage),
          rpc(config, self, now, transport, rng, table, stats, log),
          maintenance(config, now, table, storage, rng, stats, actions),
          ctx{config, self,  now,  rng, log, stats,       table,        storage,
              items,  peers, seen, rpc, ops, maintenance, store_refusal} {}

    // The last query sent to `to`.
    krpc::Message last_to(const Endpoint& to) const {
        for (std::size_t i = transport.sent.size(); i-- > 0;) {
            if (transport.sent[i].to == to) return transport.message(i);
        }
        throw std::runtime_error("nothing sent to " + to.to_string());
    }
    void answer(const Endpoint& from, const NodeId& as, krpc::Response r) {
        r.id = as;
        const auto q = last_to(from);
        rpc.handle_reply(from, *krpc::decode(encode_response(q.transaction, r)));
    }
};

}  // namespace

TEST_CASE("Operations: an event finishes an operation; a late one finds nothing", "[ops]") {
    ops::Operations table;
    Probe::Counts c;
    table.start<Probe>(c);
    REQUIRE(c.handler);
    CHECK(table.size() == 1);
    c.handler(RpcEvent{.kind = RpcEventKind::Reply});
    CHECK(c.events == 1);
    CHECK(c.completions == 1);
    CHECK(table.size() == 0);
    c.handler(RpcEvent{.kind = RpcEventKind::Reply});  // the operation is gone
    CHECK(c.events == 1);
    CHECK(c.completions == 1);
}

TEST_CASE("Operations: a completion runs with the operation out of the table", "[ops]") {
    ops::Operations table;
    Probe::Counts first, second;
    first.on_complete = [&] {
        CHECK(table.size() == 0);
        table.start<Probe>(second);  // a callback may start new work
    };
    table.start<Probe>(first);
    first.handler(RpcEvent{.kind = RpcEventKind::Reply});
    CHECK(table.size() == 1);
    REQUIRE(second.handler);
    second.handler(RpcEvent{.kind = RpcEventKind::Reply});
    CHECK(second.completions == 1);
    CHECK(table.size() == 0);
}

TEST_CASE("Operations: take_all empties the table; events then find nothing", "[ops]") {
    ops::Operations table;
    Probe::Counts c;
    table.start<Probe>(c);
    auto taken = table.take_all();
    CHECK(table.size() == 0);
    c.handler(RpcEvent{.kind = RpcEventKind::Failed, .failure = Failure::Cancelled});
    CHECK(c.events == 0);
    for (auto& op : taken) {
        op->cancel();
        op->complete();
    }
    CHECK(c.cancelled);
    CHECK(c.completions == 1);
}

TEST_CASE("hand-off asks each item's k nearest and stores only where this version is missing",
          "[ops][handoff]") {
    NodeConfig config;
    config.k = 3;
    config.routing.k = 3;
    config.rpc_timeout = 2s;
    Parts p(config);
    REQUIRE(accepted(p.storage.store(
        p.now, {.key = "item", .value = "v2", .seq = 2, .source = ep("10.9.9.9:1")})));
    const NodeId target = NodeId::from_key("item");
    for (std::uint8_t i = 1; i <= 4; ++i) {
        p.table.on_answered(p.now, id_from(100 + i), Endpoint::v4({10, 0, 0, i}, 1), 1ms);
    }
    const auto nearest = p.table.closest(target, 6);
    REQUIRE(nearest.size() == 4);
    std::vector<krpc::NodeInfo> n;
    for (const Contact* c : nearest) n.push_back({c->id, c->endpoint});

    std::optional<HandoffResult> result;
    p.ops.start<ops::HandOffOp>(p.ctx, [&](const HandoffResult& r) { result = r; });
    // The three nearest are asked whether they hold this version.
    REQUIRE(p.transport.sent.size() == 3);
    for (int i = 0; i < 3; ++i) {
        const auto q = p.last_to(n[i].endpoint);
        CHECK(as_query(q).method() == krpc::Method::FindValue);
    }
    // The nearest has it; the second has nothing and is given it with the token it sent.
    p.answer(n[0].endpoint, n[0].id,
             krpc::Response{.token = std::string("t0"), .item = krpc::Item{"item", "v2", 2}});
    p.answer(n[1].endpoint, n[1].id, krpc::Response{.token = std::string("t1")});
    const auto store = p.last_to(n[1].endpoint);
    REQUIRE(as_query(store).method() == krpc::Method::Store);
    const auto& args = std::get<krpc::StoreArgs>(as_query(store).args);
    CHECK(args.token == "t1");
    CHECK(args.seq == 2);
    CHECK(args.value == "v2");
    p.answer(n[1].endpoint, n[1].id, {});
    CHECK_FALSE(result);
    // The third never answers: at the hard timeout the fourth takes its place.
    p.now += 2s;
    p.rpc.expire();
    const auto q4 = p.last_to(n[3].endpoint);
    REQUIRE(as_query(q4).method() == krpc::Method::FindValue);
    p.answer(n[3].endpoint, n[3].id,
             krpc::Response{.token = std::string("t3"), .item = krpc::Item{"item", "v1", 1}});
    REQUIRE(as_query(p.last_to(n[3].endpoint)).method() == krpc::Method::Store);
    p.answer(n[3].endpoint, n[3].id, {});
    REQUIRE(result);
    CHECK(result->ok);
    CHECK(result->items == 1);
    CHECK(result->asked == 4);
    CHECK(result->already_had == 1);
    CHECK(result->stored == 2);
    CHECK(result->failed == 1);
    CHECK(result->short_items == 0);
    CHECK(p.ops.size() == 0);
}

TEST_CASE("hand-off: with too few nodes answering, the item is reported short", "[ops][handoff]") {
    NodeConfig config;
    config.k = 2;
    config.routing.k = 2;
    Parts p(config);
    REQUIRE(accepted(
        p.storage.store(p.now, {.key = "lonely", .value = "v", .source = ep("10.9.9.9:1")})));
    p.table.on_answered(p.now, id_from(200), ep("10.0.0.1:1"), 1ms);
    std::optional<HandoffResult> result;
    p.ops.start<ops::HandOffOp>(p.ctx, [&](const HandoffResult& r) { result = r; });
    REQUIRE(p.transport.sent.size() == 1);
    p.answer(ep("10.0.0.1:1"), id_from(200), krpc::Response{.token = std::string("t")});
    p.answer(ep("10.0.0.1:1"), id_from(200), {});
    REQUIRE(result);
    CHECK(result->stored == 1);
    CHECK(result->short_items == 1);
}

TEST_CASE("hand-off: cancelled, it says so", "[ops][handoff]") {
    Parts p(NodeConfig{});
    REQUIRE(
        accepted(p.storage.store(p.now, {.key = "x", .value = "v", .source = ep("10.9.9.9:1")})));
    p.table.on_answered(p.now, id_from(200), ep("10.0.0.1:1"), 1ms);
    std::optional<HandoffResult> result;
    p.ops.start<ops::HandOffOp>(p.ctx, [&](const HandoffResult& r) { result = r; });
    auto taken = p.ops.take_all();
    p.rpc.cancel_all();
    for (auto& op : taken) {
        op->cancel();
        op->complete();
    }
    REQUIRE(result);
    CHECK_FALSE(result->ok);
    CHECK(result->code == Failure::Cancelled);
}
