// Rpc on its own: a captured transport, a routing table and time passed in; no node, no network.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/rpc.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

struct RpcFixture {
    NodeConfig config;
    NodeId self = id_from(1);
    TimePoint now{};
    CaptureTransport transport;
    SeededRandom rng{7};
    RoutingTable table{self, RoutingConfig{}, TimePoint{}};
    NodeStats stats;
    Logger log;
    Rpc rpc;
    std::vector<RpcEvent> events;

    explicit RpcFixture(NodeConfig c = {})
        : config(c), rpc(config, self, now, transport, rng, table, stats, log) {}

    RpcHandler record() {
        return [this](const RpcEvent& e) { events.push_back(e); };
    }
    bool ping(const Endpoint& to, std::optional<NodeId> id = std::nullopt) {
        return rpc.query(to, id, rpc.make_query(krpc::PingArgs{}), record());
    }
    // The reply `from` sends to the last query we sent, as `as`.
    bool answer_last(const Endpoint& from, const NodeId& as) {
        const auto q = transport.last();
        auto m = *krpc::decode(encode_response(q.transaction, krpc::Response{.id = as}));
        return rpc.handle_reply(from, m);
    }
};

}  // namespace

TEST_CASE("Rpc: a reply is matched to its query and puts the node in the routing table", "[rpc]") {
    RpcFixture f;
    const Endpoint peer = ep("10.0.0.2:4000");
    REQUIRE(f.ping(peer));
    REQUIRE(f.transport.sent.size() == 1);
    const auto q = f.transport.message(0);
    CHECK(as_query(q).id == f.self);
    CHECK(q.version == f.config.version);
    CHECK(f.rpc.open() == 1);
    f.now += 5ms;
    REQUIRE(f.answer_last(peer, id_from(2)));
    REQUIRE(f.events.size() == 1);
    CHECK(f.events[0].kind == RpcEventKind::Reply);
    CHECK(f.events[0].rtt == 5ms);
    CHECK(f.rpc.open() == 0);
    CHECK(f.table.contains(id_from(2)));
    CHECK(f.stats.responses_in == 1);
    CHECK(f.stats.queries_out[static_cast<int>(krpc::Method::Ping)] == 1);
}

TEST_CASE("Rpc: replies from another endpoint or to no open query match nothing", "[rpc]") {
    RpcFixture f;
    REQUIRE(f.ping(ep("10.0.0.2:4000")));
    CHECK_FALSE(f.answer_last(ep("10.0.0.3:4000"), id_from(2)));
    CHECK(f.stats.wrong_endpoint == 1);
    auto stray = *krpc::decode(encode_response("zz", krpc::Response{.id = id_from(2)}));
    CHECK_FALSE(f.rpc.handle_reply(ep("10.0.0.2:4000"), stray));
    CHECK(f.stats.unmatched_replies == 1);
    CHECK(f.events.empty());
    CHECK(f.rpc.open() == 1);
}

TEST_CASE(
    "Rpc: another node's ID fails the query as WrongId, and replaces the contact we knew "
    "at that endpoint",
    "[rpc]") {
    RpcFixture f;
    const Endpoint peer = ep("10.0.0.2:4000");
    f.table.on_answered(f.now, id_from(2), peer, 5ms);
    REQUIRE(f.ping(peer, id_from(2)));
    CHECK(f.answer_last(peer, id_from(3)));
    REQUIRE(f.events.size() == 1);
    CHECK(f.events[0].kind == RpcEventKind::Failed);
    CHECK(f.events[0].failure == Failure::WrongId);
    CHECK(failure_of(f.events[0]) == Failure::WrongId);
    CHECK(failure_text(f.events[0]).find("answered as") == 0);
    CHECK(f.stats.wrong_id == 1);
    // The node there took another ID (BEP 42 makes that routine): what answers is what is there.
    CHECK_FALSE(f.table.contains(id_from(2)));
    REQUIRE(f.table.contains(id_from(3)));
    CHECK(f.table.find(peer)->id == id_from(3));
}

TEST_CASE("Rpc: a soft timeout, then a hard one that fails the query and the contact", "[rpc]") {
    NodeConfig c;
    c.rpc_timeout = 2s;
    c.soft_timeout_initial = 300ms;
    RpcFixture f(c);
    // A contact, so that its failure counts.
    const Endpoint peer = ep("10.0.0.2:4000");
    f.table.on_answered(f.now, id_from(2), peer, std::nullopt);
    REQUIRE(f.ping(peer, id_from(2)));
    CHECK(f.rpc.next_deadline() == f.now + 300ms);
    f.now += 300ms;
    f.rpc.expire();
    REQUIRE(f.events.size() == 1);
    CHECK(f.events[0].kind == RpcEventKind::SoftTimeout);
    CHECK(f.rpc.next_deadline() == TimePoint{} + 2s);
    f.now = TimePoint{} + 2s;
    f.rpc.expire();
    REQUIRE(f.events.size() == 2);
    CHECK(f.events[1].kind == RpcEventKind::Failed);
    CHECK(f.events[1].failure == Failure::Timeout);
    CHECK(f.events[1].reason == "no reply within 2000 ms");
    CHECK(f.table.find(id_from(2))->failures == 1);
    CHECK(f.stats.soft_timeouts == 1);
    CHECK(f.stats.hard_timeouts == 1);
}

TEST_CASE("Rpc: the soft timeout follows the contact's RTT, else a quantile of every reply's",
          "[rpc]") {
    RpcFixture f;
    CHECK(f.rpc.soft_timeout_for(std::nullopt) == f.config.soft_timeout_initial);
    // One reply of 100 ms is too few to say how long strangers take (RttWindow::kMinSamples):
    // the initial timeout holds.
    REQUIRE(f.ping(ep("10.0.0.2:4000")));
    f.now += 100ms;
    REQUIRE(f.answer_last(ep("10.0.0.2:4000"), id_from(2)));
    CHECK(f.rpc.soft_timeout_for(std::nullopt) == f.config.soft_timeout_initial);
    CHECK(f.rpc.soft_timeout_for(id_from(9)) == f.config.soft_timeout_initial);
    // Nine more, 10 ms to 90 ms: the 90th percentile of the ten (rank 0.9 x 9 = 8) is 90 ms.
    for (int i = 1; i <= 9; ++i) {
        REQUIRE(f.ping(ep("10.0.0.5:4000")));
        f.now += i * 10ms;
        REQUIRE(f.answer_last(ep("10.0.0.5:4000"), id_from(5)));
    }
    CHECK(f.rpc.soft_timeout_for(id_from(9)) == 112500us);  // no samples of its own
    // A contact with its own estimate: 30 ms -> 30 + 4 x 15 = 90 ms.
    f.table.on_answered(f.now, id_from(3), ep("10.0.0.3:4000"), 30ms);
    CHECK(f.rpc.soft_timeout_for(id_from(3)) == 90ms);
    // Clamped to the configured floor.
    f.table.on_answered(f.now, id_from(4), ep("10.0.0.4:4000"), 1ms);
    CHECK(f.rpc.soft_timeout_for(id_from(4)) == f.config.soft_timeout_min);
}

TEST_CASE("Rpc: an error reply reaches the handler as Refused with the node's words", "[rpc]") {
    RpcFixture f;
    const Endpoint peer = ep("10.0.0.2:4000");
    REQUIRE(f.ping(peer));
    krpc::Message e;
    e.transaction = f.transport.last().transaction;
    e.body = krpc::Error{202, "busy"};
    CHECK(f.rpc.handle_reply(peer, e));
    REQUIRE(f.events.size() == 1);
    CHECK(f.events[0].kind == RpcEventKind::ErrorReply);
    CHECK(failure_of(f.events[0]) == Failure::Refused);
    CHECK(failure_text(f.events[0]) == "refused with error 202: busy");
}

TEST_CASE("Rpc: respond cuts the node list, farthest first, to fit max_size", "[rpc]") {
    RpcFixture f;
    krpc::Response r{.id = f.self};
    for (int i = 0; i < 20; ++i) {
        r.nodes.push_back(
            {id_from(100 + i), Endpoint::v4({10, 0, 0, static_cast<std::uint8_t>(i + 1)}, 1)});
    }
    f.rpc.respond(ep("10.0.0.9:1"), "aa", r, 300);
    const auto& sent = f.transport.sent.back();
    CHECK(sent.bytes.size() <= 300);
    const auto back = as_response(*krpc::decode(sent.bytes));
    REQUIRE_FALSE(back.nodes.empty());
    CHECK(back.nodes.size() < 20);
    for (std::size_t i = 0; i < back.nodes.size(); ++i) CHECK(back.nodes[i] == r.nodes[i]);
    // The envelope: our transaction ID, version and the asker's address.
    const auto m = *krpc::decode(sent.bytes);
    CHECK(m.transaction == "aa");
    REQUIRE(m.requester);
    CHECK(*m.requester == ep("10.0.0.9:1"));
    // Without a bound, all of it.
    f.rpc.respond(ep("10.0.0.9:1"), "bb", r);
    CHECK(as_response(f.transport.last()).nodes.size() == 20);
}

TEST_CASE("Rpc: an error's message is cut to max_error_message", "[rpc]") {
    RpcFixture f;
    f.rpc.error(ep("10.0.0.9:1"), "aa", 203, std::string(500, 'x'));
    CHECK(as_error(f.transport.last()).message.size() == f.config.max_error_message);
    CHECK(f.stats.errors_out == 1);
}

TEST_CASE("Rpc: verification pings are bounded; the table hears of the skipped ones", "[rpc]") {
    NodeConfig c;
    c.max_maintenance_pings = 2;
    RpcFixture f(c);
    for (int i = 0; i < 3; ++i) {
        const Endpoint at = Endpoint::v4({10, 0, 1, static_cast<std::uint8_t>(i + 1)}, 1);
        f.rpc.verify(f.table.on_heard_of(f.now, id_from(10 + i), at));
    }
    CHECK(f.transport.sent.size() == 2);
    CHECK(f.stats.maintenance_pings == 2);
    CHECK(f.stats.maintenance_pings_skipped == 1);
    CHECK(f.rpc.open() == 2);
    // One answers: the budget frees, and its node enters the table.
    const auto first = f.transport.message(0);
    auto reply =
        *krpc::decode(encode_response(first.transaction, krpc::Response{.id = id_from(10)}));
    CHECK(f.rpc.handle_reply(f.transport.sent[0].to, reply));
    CHECK(f.table.contains(id_from(10)));
    f.rpc.verify(f.table.on_heard_of(f.now, id_from(20), ep("10.0.2.1:1")));
    CHECK(f.stats.maintenance_pings == 3);
}

TEST_CASE("Rpc: a node that never answered us is pinged from the second port, read-only",
          "[rpc][nat]") {
    RpcFixture f;
    f.transport.probe_port = true;
    const NodeId a = id_from(10), b = id_from(11);
    const Endpoint at_a = ep("10.0.1.1:6881"), at_b = ep("10.0.1.2:6881");

    // a queried us: the verification ping goes from the second port, marked read-only (BEP 43)
    // so that a does not take that port for ours.
    f.rpc.verify(f.table.on_heard_of(f.now, a, at_a));
    REQUIRE(f.transport.sent.size() == 1);
    CHECK(f.transport.sent[0].probe);
    CHECK(f.transport.sent[0].to == at_a);
    CHECK(f.transport.message(0).read_only);
    CHECK(f.stats.reach_probes == 1);
    // Its answer (to the second port; the node takes it as any datagram) brings it in. The
    // address it saw us at counts toward our external address (BEP 42; the port is the second
    // port's, which AddressVoter does not take: test_bep42).
    const auto q = f.transport.last();
    auto reply = *krpc::decode(encode_response(q.transaction, krpc::Response{.id = a}));
    reply.requester = ep("203.0.113.7:40001");
    CHECK(f.rpc.handle_reply(at_a, reply));
    CHECK(f.table.contains(a));
    CHECK(f.rpc.address_voter().total_votes() == 1);

    // b queried us too, but its NAT drops the probe: it stays out, and the probe is counted.
    f.rpc.verify(f.table.on_heard_of(f.now, b, at_b));
    CHECK(f.transport.sent.back().probe);
    f.now += f.config.rpc_timeout;
    f.rpc.expire();
    CHECK(f.stats.reach_probes_unanswered == 1);
    CHECK_FALSE(f.table.contains(b));
    CHECK(f.table.bucket(f.table.bucket_index(b)).replacements().empty());
    // It queries us again: no new probe until unreachable_for has passed.
    CHECK_FALSE(f.table.on_heard_of(f.now + 1min, b, at_b).has_value());
    CHECK(f.table.probes_skipped() == 1);
    const auto again = f.table.on_heard_of(f.now + 16min, b, at_b);
    REQUIRE(again.has_value());
    CHECK(again->probe);

    // a, known now, fails twice; when it queries us again, the ping to it (it has answered us
    // before) goes from our first port, not read-only.
    for (int i = 0; i < 2; ++i) f.table.on_failed(f.now, a, at_a);
    const std::size_t before = f.transport.sent.size();
    f.rpc.verify(f.table.on_heard_of(f.now, a, at_a));
    REQUIRE(f.transport.sent.size() == before + 1);
    CHECK_FALSE(f.transport.sent.back().probe);
    CHECK_FALSE(f.transport.last().read_only);
    CHECK(f.stats.reach_probes == 2);
}

TEST_CASE("Rpc: without a second port, a probe goes from the first, as any ping", "[rpc][nat]") {
    RpcFixture f;  // CaptureTransport has no second port unless told
    f.rpc.verify(f.table.on_heard_of(f.now, id_from(10), ep("10.0.1.1:6881")));
    REQUIRE(f.transport.sent.size() == 1);
    CHECK_FALSE(f.transport.sent[0].probe);
    CHECK_FALSE(f.transport.message(0).read_only);
    CHECK(f.stats.reach_probes == 0);
    // Its answer is an answer to our first port: the address it saw counts (BEP 42).
    auto reply = *krpc::decode(
        encode_response(f.transport.last().transaction, krpc::Response{.id = id_from(10)}));
    reply.requester = ep("203.0.113.7:6881");
    CHECK(f.rpc.handle_reply(ep("10.0.1.1:6881"), reply));
    CHECK(f.table.contains(id_from(10)));
    CHECK(f.rpc.address_voter().total_votes() == 1);
}

TEST_CASE("Rpc: a full transaction table refuses a query without a handler call", "[rpc]") {
    NodeConfig c;
    c.max_transactions = 2;
    RpcFixture f(c);
    CHECK(f.ping(ep("10.0.0.2:1")));
    CHECK(f.ping(ep("10.0.0.3:1")));
    CHECK_FALSE(f.ping(ep("10.0.0.4:1")));
    CHECK(f.transport.sent.size() == 2);
    CHECK(f.stats.transactions_full == 1);
    CHECK(f.events.empty());
}

TEST_CASE("Rpc: cancel_all fails every open query as Cancelled", "[rpc]") {
    RpcFixture f;
    REQUIRE(f.ping(ep("10.0.0.2:1")));
    REQUIRE(f.ping(ep("10.0.0.3:1")));
    f.rpc.cancel_all();
    REQUIRE(f.events.size() == 2);
    for (const auto& e : f.events) {
        CHECK(e.kind == RpcEventKind::Failed);
        CHECK(e.failure == Failure::Cancelled);
    }
    CHECK(f.rpc.open() == 0);
    CHECK(f.rpc.next_deadline() == TimePoint::max());
}

TEST_CASE("Rpc: unreachable addresses are named before anything is sent", "[rpc]") {
    RpcFixture f;
    CHECK(f.rpc.unreachable(ep("10.0.0.2:0")) ==
          std::optional<std::string>("cannot send to 10.0.0.2:0"));
    CHECK_FALSE(f.rpc.unreachable(ep("10.0.0.2:1")));
}

TEST_CASE("Rpc: new contacts and live peers are reported to the hooks", "[rpc]") {
    RpcFixture f;
    std::vector<NodeId> fresh, alive;
    f.rpc.set_new_contact_hook([&](const NodeId& id, const Endpoint&) { fresh.push_back(id); });
    f.rpc.set_contact_observer(
        [&](TimePoint, const NodeId& id, const Endpoint&) { alive.push_back(id); });
    REQUIRE(f.ping(ep("10.0.0.2:1")));
    REQUIRE(f.answer_last(ep("10.0.0.2:1"), id_from(2)));
    REQUIRE(f.ping(ep("10.0.0.2:1")));
    REQUIRE(f.answer_last(ep("10.0.0.2:1"), id_from(2)));  // known now: not new
    f.rpc.heard_from(id_from(5), ep("10.0.0.5:1"));
    CHECK(fresh == std::vector<NodeId>{id_from(2)});
    CHECK(alive == std::vector<NodeId>{id_from(2), id_from(2), id_from(5)});
}

TEST_CASE("Rpc: which nodes do not speak find_value and store is learnt from their answers",
          "[rpc]") {
    RpcFixture f;
    auto ask = [&](const Endpoint& to, const NodeId& id, auto args) {
        REQUIRE(f.rpc.query(to, id, f.rpc.make_query(args), f.record()));
        return f.transport.last().transaction;
    };
    auto reply = [&](const Endpoint& from, const std::string& t, krpc::Message m) {
        m.transaction = t;
        return f.rpc.handle_reply(from, *krpc::decode(krpc::encode(m)));
    };
    const krpc::FindValueArgs fv{id_from(50), std::nullopt};
    // Another client's "v": foreign at once, whatever it was asked.
    const Endpoint lt = ep("10.0.0.2:1");
    krpc::Message m;
    m.version = std::string("LT\x01\x02", 4);
    m.body = krpc::Response{.id = id_from(2)};
    CHECK(reply(lt, ask(lt, id_from(2), krpc::PingArgs{}), m));
    CHECK(f.rpc.foreign().contains(id_from(2)));
    // Our own "v": not.
    const Endpoint kn = ep("10.0.0.3:1");
    m.version = f.config.version;
    m.body = krpc::Response{.id = id_from(3), .token = std::string("t")};
    CHECK(reply(kn, ask(kn, id_from(3), fv), m));
    CHECK_FALSE(f.rpc.foreign().contains(id_from(3)));
    // A find_value answered as if it were find_node (no token), under our own "v".
    const Endpoint nt = ep("10.0.0.4:1");
    m.body = krpc::Response{.id = id_from(4)};
    CHECK(reply(nt, ask(nt, id_from(4), fv), m));
    CHECK(f.rpc.foreign().contains(id_from(4)));
    // 204 to find_value.
    const Endpoint e204 = ep("10.0.0.5:1");
    m.body = krpc::Error{krpc::kMethodUnknown, "Method Unknown"};
    CHECK(reply(e204, ask(e204, id_from(5), fv), m));
    CHECK(f.rpc.foreign().contains(id_from(5)));
    // Silence to find_value, then an answer to find_node under our own "v": a lost datagram,
    // not a node that ignores find_value (that is learnt without "v": the test below).
    const Endpoint quiet = ep("10.0.0.6:1");
    ask(quiet, id_from(6), fv);
    f.now += f.config.rpc_timeout;
    f.rpc.expire();
    CHECK_FALSE(f.rpc.foreign().contains(id_from(6)));  // it may only be gone
    m.body = krpc::Response{.id = id_from(6)};
    CHECK(reply(quiet, ask(quiet, id_from(6), krpc::FindNodeArgs{id_from(9), std::nullopt}), m));
    CHECK_FALSE(f.rpc.foreign().contains(id_from(6)));
    // No "v" at all: kadnode always sends one, so this is another implementation.
    const Endpoint bare = ep("10.0.0.7:1");
    m.version.reset();
    m.body = krpc::Response{.id = id_from(7)};
    CHECK(reply(bare, ask(bare, id_from(7), krpc::PingArgs{}), m));
    CHECK(f.rpc.foreign().contains(id_from(7)));
    CHECK(f.rpc.foreign().size() == 4);
}

TEST_CASE("Rpc: a node that sends no v itself does not take a missing v for a foreign client",
          "[rpc]") {
    NodeConfig config;
    config.version.clear();
    RpcFixture f(config);
    REQUIRE(
        f.rpc.query(ep("10.0.0.2:1"), id_from(2), f.rpc.make_query(krpc::PingArgs{}), f.record()));
    const auto q = f.transport.last();
    CHECK_FALSE(q.version);
    krpc::Message m;
    m.transaction = q.transaction;
    m.body = krpc::Response{.id = id_from(2)};
    CHECK(f.rpc.handle_reply(ep("10.0.0.2:1"), *krpc::decode(krpc::encode(m))));
    CHECK_FALSE(f.rpc.foreign().contains(id_from(2)));
    // With no "v" on either side, silence to find_value then an answer to find_node is the
    // sign of an implementation that ignores methods it does not know.
    const Endpoint quiet = ep("10.0.0.6:1");
    REQUIRE(f.rpc.query(quiet, id_from(6),
                        f.rpc.make_query(krpc::FindValueArgs{id_from(50), std::nullopt}),
                        f.record()));
    f.now += f.config.rpc_timeout;
    f.rpc.expire();
    CHECK_FALSE(f.rpc.foreign().contains(id_from(6)));  // it may only be gone
    REQUIRE(f.rpc.query(quiet, id_from(6),
                        f.rpc.make_query(krpc::FindNodeArgs{id_from(9), std::nullopt}),
                        f.record()));
    m.transaction = f.transport.last().transaction;
    m.body = krpc::Response{.id = id_from(6)};
    CHECK(f.rpc.handle_reply(quiet, *krpc::decode(krpc::encode(m))));
    CHECK(f.rpc.foreign().contains(id_from(6)));
}

TEST_CASE("Rpc: every query answered with nodes says which families it wants (BEP 32)", "[rpc]") {
    RpcFixture f;
    f.transport.reach = {.v4 = true, .v6 = false};
    const krpc::Want v4_only{.v4 = true, .v6 = false};
    auto want_of = [&](auto args) {
        using Args = decltype(args);
        REQUIRE(f.rpc.query(ep("10.0.0.2:1"), std::nullopt, f.rpc.make_query(args), f.record()));
        return std::get<Args>(std::get<krpc::Query>(f.transport.last().body).args).want;
    };
    CHECK(want_of(krpc::FindNodeArgs{id_from(5), std::nullopt}) == v4_only);
    CHECK(want_of(krpc::FindValueArgs{id_from(5), std::nullopt}) == v4_only);
    CHECK(want_of(krpc::GetPeersArgs{id_from(5), std::nullopt}) == v4_only);
    CHECK(want_of(krpc::GetArgs{id_from(5), std::nullopt, std::nullopt}) == v4_only);
    CHECK(want_of(krpc::SampleInfohashesArgs{id_from(5), std::nullopt}) == v4_only);
    // A dual-stack socket wants both; a want given by the caller is kept.
    f.transport.reach = {};
    CHECK(want_of(krpc::FindNodeArgs{id_from(5), std::nullopt}) == krpc::Want{true, true});
    CHECK(want_of(krpc::FindNodeArgs{id_from(5), krpc::Want{false, true}}) ==
          krpc::Want{false, true});
}

TEST_CASE(
    "Rpc: a slow tail is a recent reply over 1.5 times a stranger's soft timeout; round trips "
    "alike show none, nor do queries past their soft timeout that mostly go unanswered",
    "[rpc]") {
    RpcFixture f;
    CHECK_FALSE(f.rpc.slow_tail());  // no reply yet
    const Endpoint fast_peer = ep("10.0.0.5:4000");
    int i = 0;
    // 80-120 ms, as at one region's round trips: the soft timeout is 1.25 x the 90th
    // percentile (about 140 ms), and the longest, 120 ms, is under it.
    const auto fast = [&](int n) {
        for (int k = 0; k < n; ++k) {
            REQUIRE(f.ping(fast_peer));
            f.now += std::chrono::milliseconds(80 + (i++ * 7) % 41);
            f.rpc.expire();
            REQUIRE(f.answer_last(fast_peer, id_from(5)));
        }
    };
    // A query to a node never heard from, past its soft timeout: answered at 900 ms, or never.
    int strangers = 0;
    const auto slow = [&](bool answers) {
        ++strangers;
        const Endpoint to = Endpoint::v4({10, 1, static_cast<std::uint8_t>(strangers >> 8),
                                          static_cast<std::uint8_t>(strangers & 0xff)},
                                         4000);
        const NodeId id = id_from(2000 + static_cast<std::uint64_t>(strangers));
        REQUIRE(f.ping(to, id));
        f.now += 900ms;
        f.rpc.expire();  // the soft timeout
        if (answers) {
            REQUIRE(f.answer_last(to, id));
        } else {
            f.now += f.config.rpc_timeout;
            f.rpc.expire();  // the hard one
        }
    };
    fast(200);
    CHECK_FALSE(f.rpc.slow_tail());
    CHECK(f.stats.late_answers == 0);
    // One slow host's reply, 900 ms: past 1.5 times the soft timeout, which it hardly moves.
    slow(true);
    CHECK(f.stats.late_answers == 1);
    CHECK(f.rpc.slow_tail());
    fast(500);
    CHECK(f.rpc.slow_tail());  // remembered past the window's 128 replies
    // Then a dead node, silent to its attempts: one late answer in nine endings is no tail
    // (the rule waits for nine endings, and then a share under one in eight).
    for (int k = 0; k < 7; ++k) slow(false);
    CHECK(f.rpc.slow_tail());  // eight endings: not yet
    slow(false);
    CHECK_FALSE(f.rpc.slow_tail());
    // Slow hosts that answer (two in three) bring it back.
    for (int k = 0; k < 6; ++k) {
        fast(11);  // the slow stay under a tenth of the round trips: the timeout stays put
        slow(k % 3 != 0);
    }
    CHECK(f.rpc.slow_tail());
    // Thousands of fast replies later without another slow one, the longest has faded.
    fast(3000);
    CHECK_FALSE(f.rpc.slow_tail());
}

TEST_CASE(
    "Rpc: unanswered probes from the second port say nothing of a slow tail; an answer as "
    "another node counts as an answer",
    "[rpc]") {
    RpcFixture f;
    f.transport.probe_port = true;
    const Endpoint fast_peer = ep("10.0.0.5:4000");
    for (int i = 0; i < 200; ++i) {
        REQUIRE(f.ping(fast_peer));
        f.now += std::chrono::milliseconds(80 + (i * 7) % 41);
        REQUIRE(f.answer_last(fast_peer, id_from(5)));
    }
    // One slow host's late answer opens the gate.
    REQUIRE(f.ping(ep("10.1.0.1:4000"), id_from(2001)));
    f.now += 900ms;
    f.rpc.expire();
    REQUIRE(f.answer_last(ep("10.1.0.1:4000"), id_from(2001)));
    REQUIRE(f.rpc.slow_tail());
    // Twenty nodes behind NAT ignore our probes: no veto, nothing counted.
    for (std::uint8_t i = 0; i < 20; ++i) {
        f.rpc.verify(PingRequest{id_from(3000 + i), Endpoint::v4({10, 2, 0, i}, 4000), true});
        REQUIRE(f.transport.sent.back().probe);
        f.now += 900ms;
        f.rpc.expire();
        f.now += f.config.rpc_timeout;
        f.rpc.expire();
    }
    CHECK(f.stats.reach_probes_unanswered == 20);
    CHECK(f.rpc.slow_tail());
    // Eight silent strangers, but the first answers late as another node (a new ID there):
    // the endpoint answered, so that is a late answer, and there is no veto.
    for (std::uint8_t i = 0; i < 8; ++i) {
        const Endpoint to = Endpoint::v4({10, 3, 0, i}, 4000);
        REQUIRE(f.ping(to, id_from(4000 + i)));
        f.now += 900ms;
        f.rpc.expire();
        if (i == 0) {
            REQUIRE(f.answer_last(to, id_from(5000)));
            CHECK(f.stats.wrong_id == 1);
        } else {
            f.now += f.config.rpc_timeout;
            f.rpc.expire();
        }
    }
    CHECK(f.stats.late_answers == 2);
    CHECK(f.rpc.slow_tail());  // two in nine answered
}
