// The iterative lookup as a state machine, fed by hand.

#include <algorithm>
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/lookup.hpp"

using namespace kad;
using namespace kad::test;
using State = Lookup::State;

namespace {

struct Peers {
    std::vector<krpc::NodeInfo> all;
    explicit Peers(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            all.push_back(
                {id_from(1000 + i), Endpoint::v4({10, 1, static_cast<std::uint8_t>(i >> 8),
                                                  static_cast<std::uint8_t>(i & 0xff)},
                                                 7000)});
        }
    }
    // Every peer as a seed of `l`.
    void seed(Lookup& l) const {
        for (const auto& p : all) l.add_seed(p.id, p.endpoint);
    }
    // The n nearest to target, nearest first.
    std::vector<krpc::NodeInfo> nearest(const NodeId& target, std::size_t n) const {
        auto v = all;
        std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) {
            return compare_distance(target, a.id, b.id) < 0;
        });
        v.resize(std::min(n, v.size()));
        return v;
    }
};

LookupParams params(const NodeId& target, std::size_t k = 20, std::size_t alpha = 3) {
    LookupParams p;
    p.target = target;
    p.self = id_from(1);
    p.k = k;
    p.alpha = alpha;
    return p;
}

// Answers every query the way a network of `peers` would: each node returns the k nearest it
// knows (here: all of them), excluding itself.
std::size_t run_to_end(Lookup& l, const Peers& peers, std::size_t k) {
    std::size_t rounds = 0;
    while (!l.done()) {
        auto batch = l.next_queries();
        REQUIRE(!batch.empty());
        for (const auto& c : batch) {
            auto nodes = peers.nearest(l.target(), k + 1);
            std::erase_if(nodes, [&](const auto& n) { return n.id == c.id; });
            nodes.resize(std::min(nodes.size(), k));
            l.on_reply(c.id, nodes, std::string("tok"), std::nullopt);
        }
        ++rounds;
    }
    return rounds;
}

}  // namespace

TEST_CASE("a lookup queries alpha candidates at a time, nearest first", "[lookup]") {
    Peers peers(50);
    const NodeId target = id_from(5);
    Lookup l(params(target));
    peers.seed(l);
    auto batch = l.next_queries();
    REQUIRE(batch.size() == 3);
    const auto nearest = peers.nearest(target, 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(batch[i].id == nearest[i].id);
    // Nothing more while three are waiting.
    CHECK(l.next_queries().empty());
    CHECK_FALSE(l.done());
}

TEST_CASE("a lookup ends when the k nearest have answered, with them as the result", "[lookup]") {
    Peers peers(200);
    const NodeId target = id_from(6);
    Lookup l(params(target));
    // Seed with far nodes only: the lookup must find its way in.
    auto far = peers.all;
    std::sort(far.begin(), far.end(), [&](const auto& a, const auto& b) {
        return compare_distance(target, a.id, b.id) > 0;
    });
    for (std::size_t i = 0; i < 5; ++i) l.add_seed(far[i].id, far[i].endpoint);
    run_to_end(l, peers, 20);
    const auto results = l.results();
    const auto truth = peers.nearest(target, 20);
    REQUIRE(results.size() == 20);
    for (std::size_t i = 0; i < 20; ++i) CHECK(results[i]->id == truth[i].id);
    CHECK(l.hops() >= 2);
}

TEST_CASE(
    "a soft timeout frees the slot; the slow candidate is asked again at once, all its "
    "remaining attempts together",
    "[lookup]") {
    Peers peers(10);
    const NodeId target = id_from(7);
    LookupParams lp = params(target, 20, 1);
    lp.max_attempts = 3;
    lp.wait_nearest = 0;  // no patience (its own test, below): soft timeouts alone
    Lookup l(lp);
    peers.seed(l);
    auto first = l.next_queries();
    REQUIRE(first.size() == 1);
    const NodeId slow = first[0].id;
    l.on_soft_timeout(slow);
    auto second = l.next_queries();
    // The slot went to another candidate, and the slow one is asked twice more at once.
    REQUIRE(second.size() == 3);
    CHECK(second[0].id != slow);
    CHECK(std::count_if(second.begin(), second.end(),
                        [&](const auto& c) { return c.id == slow; }) == 2);
    REQUIRE(l.status(slow));
    CHECK(l.status(slow)->state == State::Retrying);

    // Everyone else answers: the lookup still waits for the retries.
    std::vector<krpc::NodeInfo> batch = {second[0]};
    for (int guard = 0; guard < 100 && !batch.empty(); ++guard) {
        for (const auto& c : batch) l.on_reply(c.id, {}, std::nullopt, std::nullopt);
        batch = l.next_queries();
        for (const auto& c : batch) CHECK(c.id != slow);  // no attempt left to send
    }
    CHECK_FALSE(l.done());
    l.on_soft_timeout(slow);  // the retries' soft timeout passes too
    CHECK(l.next_queries().empty());
    CHECK(l.done());
    CHECK(l.status(slow)->attempts == 3);
    const auto results = l.results();
    CHECK(results.size() == 9);
    for (const auto* r : results) CHECK(r->id != slow);
}

TEST_CASE("a retried candidate that answers is among the results", "[lookup]") {
    Peers peers(5);
    const NodeId target = id_from(11);
    Lookup l(params(target, 20, 5));
    peers.seed(l);
    auto batch = l.next_queries();
    REQUIRE(batch.size() == 5);
    l.on_soft_timeout(batch[0].id);
    for (std::size_t i = 1; i < batch.size(); ++i) {
        l.on_reply(batch[i].id, {}, std::nullopt, std::nullopt);
    }
    const auto retries = l.next_queries();
    CHECK(retries.size() == 3);  // max_attempts 4: three more at once
    CHECK_FALSE(l.done());
    l.on_reply(batch[0].id, {}, std::nullopt, std::nullopt);  // one of them is answered
    CHECK(l.done());
    CHECK(l.results().size() == 5);
    CHECK(l.results().front()->id == batch[0].id);
}

TEST_CASE("a candidate is asked at most 255 times, whatever max_attempts says", "[lookup]") {
    Peers peers(1);
    LookupParams lp = params(id_from(14), 20, 1);
    lp.max_attempts = 1000;
    Lookup l(lp);
    peers.seed(l);
    const NodeId only = peers.all[0].id;
    REQUIRE(l.next_queries().size() == 1);
    l.on_soft_timeout(only);
    CHECK(l.next_queries().size() == static_cast<std::size_t>(Lookup::kMaxAttempts) - 1);
    REQUIRE(l.status(only));
    CHECK(l.status(only)->attempts == Lookup::kMaxAttempts);
    CHECK(l.status(only)->outstanding == Lookup::kMaxAttempts);
    CHECK_FALSE(l.status(id_from(15)));  // not a candidate
}

TEST_CASE("a candidate's record stays where it is as the lookup grows and drops others",
          "[lookup]") {
    Peers peers(300);
    const NodeId target = id_from(16);
    LookupParams lp = params(target);
    lp.max_candidates = 50;
    Lookup l(lp);
    const auto nearest = peers.nearest(target, 1).front();
    l.add_seed(nearest.id, nearest.endpoint);
    const LookupCandidate* before = l.candidate(nearest.id);
    REQUIRE(before);
    REQUIRE(l.next_queries().size() == 1);
    // It names all the others: most are dropped, the nearest 50 kept.
    CHECK(l.on_reply(nearest.id, peers.all, std::string("tok"), std::nullopt));
    CHECK(l.candidates() == 50);
    CHECK(l.dropped() == 250);
    CHECK(l.candidate(nearest.id) == before);
    REQUIRE(before->token);
    CHECK(*before->token == "tok");
    // The 50 kept are the nearest 50, whatever order they came in.
    for (const auto& p : peers.nearest(target, 50)) CHECK(l.candidate(p.id));
}

TEST_CASE(
    "the frontier is asked alpha at a time; once the nearest known node has answered, the "
    "rest of the k nearest are asked at once",
    "[lookup]") {
    Peers peers(50);
    const NodeId target = id_from(12);
    Lookup l(params(target, 20, 3));
    peers.seed(l);
    const auto nearest = peers.nearest(target, 20);
    auto first = l.next_queries();
    REQUIRE(first.size() == 3);
    // The second nearest answers, naming nothing new: the nearest is still ahead of it, so only
    // one more query (the frontier is the nearest alone, already asked) — none.
    l.on_reply(nearest[1].id, {}, std::nullopt, std::nullopt);
    CHECK(l.next_queries().empty());
    // The nearest answers, naming nothing nearer: converged. The 17 of the k nearest not yet
    // asked go out together.
    l.on_reply(nearest[0].id, {}, std::nullopt, std::nullopt);
    auto wide = l.next_queries();
    REQUIRE(wide.size() == 17);
    for (std::size_t i = 0; i < wide.size(); ++i) CHECK(wide[i].id == nearest[i + 3].id);
    // One of them names a node nearer than all: it is asked at once, beside the 18 waiting.
    const krpc::NodeInfo closer{target, Endpoint::v4({10, 2, 0, 1}, 7000)};
    l.on_reply(wide[0].id, {closer}, std::nullopt, std::nullopt);
    auto next = l.next_queries();
    REQUIRE(next.size() == 1);
    CHECK(next[0].id == target);
}

TEST_CASE("a lookup's bound is the round trips on the path to its farthest result", "[lookup]") {
    using std::chrono::milliseconds;
    Peers peers(3);  // a names b, b names c
    const NodeId target = id_from(13);
    const auto& a = peers.all[0];
    const auto& b = peers.all[1];
    const auto& c = peers.all[2];
    Lookup l(params(target, 20, 3));
    l.add_seed(a.id, a.endpoint);
    REQUIRE(l.next_queries().size() == 1);
    l.on_reply(a.id, {b}, std::nullopt, std::nullopt, milliseconds(10));
    REQUIRE(l.next_queries().size() == 1);
    l.on_reply(b.id, {c, a}, std::nullopt, std::nullopt, milliseconds(20));
    REQUIRE(l.next_queries().size() == 1);
    l.on_reply(c.id, {a, b}, std::nullopt, std::nullopt, milliseconds(30));
    CHECK(l.done());
    CHECK(l.candidate(a.id)->path == milliseconds(10));
    CHECK(l.candidate(b.id)->path == milliseconds(30));
    CHECK(l.candidate(c.id)->path == milliseconds(60));
    CHECK(l.bound() == milliseconds(60));
}

TEST_CASE("a value lookup's bound is the path to the value", "[lookup]") {
    using std::chrono::milliseconds;
    Peers peers(2);
    const NodeId target = NodeId::from_key("k");
    LookupParams p = params(target);
    p.stop_at_value = true;
    Lookup l(p);
    l.add_seed(peers.all[0].id, peers.all[0].endpoint);
    REQUIRE(l.next_queries().size() == 1);
    l.on_reply(peers.all[0].id, {peers.all[1]}, std::nullopt, std::nullopt, milliseconds(15));
    REQUIRE(l.next_queries().size() == 1);
    l.on_reply(peers.all[1].id, {}, std::nullopt, krpc::Item{"k", "v", 0}, milliseconds(25));
    CHECK(l.done());
    CHECK(l.bound() == milliseconds(40));
    REQUIRE(l.value());
    CHECK(l.value()->path == milliseconds(40));
}

TEST_CASE("a late reply after a soft timeout still counts", "[lookup]") {
    Peers peers(3);
    const NodeId target = id_from(8);
    Lookup l(params(target, 20, 3));
    peers.seed(l);
    auto batch = l.next_queries();
    REQUIRE(batch.size() == 3);
    l.on_soft_timeout(batch[0].id);
    l.on_reply(batch[1].id, {}, std::nullopt, std::nullopt);
    l.on_reply(batch[2].id, {}, std::nullopt, std::nullopt);
    l.on_reply(batch[0].id, {}, std::nullopt, std::nullopt);  // late
    CHECK(l.done());
    CHECK(l.results().size() == 3);
}

TEST_CASE("with no answer yet, a lookup waits for its slow queries up to their hard timeout",
          "[lookup]") {
    Peers peers(3);
    LookupParams lp = params(id_from(10), 20, 3);
    lp.max_attempts = 2;
    lp.wait_nearest = 0;  // no patience: with no answer yet, this test's rule alone holds it
    for (bool late_reply : {true, false}) {
        Lookup l(lp);
        peers.seed(l);
        auto batch = l.next_queries();
        REQUIRE(batch.size() == 3);
        for (const auto& c : batch) l.on_soft_timeout(c.id);
        auto again = l.next_queries();  // every one asked a second time, at once
        REQUIRE(again.size() == 3);
        for (const auto& c : again) l.on_soft_timeout(c.id);
        CHECK(l.next_queries().empty());
        CHECK_FALSE(l.done());  // no attempt left, but six queries may still be answered
        if (late_reply) {
            l.on_reply(batch[1].id, {}, std::nullopt, std::nullopt);
            CHECK(l.done());
            REQUIRE(l.results().size() == 1);
            CHECK(l.results()[0]->id == batch[1].id);
        } else {
            for (const auto& c : batch) l.on_failed(c.id, false);  // the hard timeouts
            CHECK_FALSE(l.done());
            for (const auto& c : again) l.on_failed(c.id, false);
            CHECK(l.done());
            CHECK(l.results().empty());
        }
    }
}

TEST_CASE("an error reply fails a candidate for good", "[lookup]") {
    Peers peers(2);
    Lookup l(params(id_from(9)));
    peers.seed(l);
    auto batch = l.next_queries();
    REQUIRE(batch.size() == 2);
    l.on_failed(batch[0].id, true);
    l.on_reply(batch[1].id, {}, std::nullopt, std::nullopt);
    CHECK(l.next_queries().empty());
    CHECK(l.done());
    REQUIRE(l.results().size() == 1);
    CHECK(l.results()[0]->id == batch[1].id);
}

TEST_CASE(
    "a value lookup stops at the first value and keeps the highest seq of the queries "
    "waiting nearer the key",
    "[lookup]") {
    Peers peers(30);
    const NodeId target = NodeId::from_key("key");
    LookupParams p = params(target);
    p.stop_at_value = true;
    Lookup l(p);
    peers.seed(l);
    auto batch = l.next_queries();  // nearest first
    REQUIRE(batch.size() == 3);
    l.on_reply(batch[2].id, {}, std::string("t2"), krpc::Item{"key", "old", 1});
    CHECK(l.next_queries().empty());  // stopped: no new queries
    CHECK_FALSE(l.done());            // but the two nearer the key are still awaited
    l.on_reply(batch[0].id, {}, std::string("t0"), krpc::Item{"key", "new", 2});
    l.on_reply(batch[1].id, {}, std::string("t1"), std::nullopt);
    CHECK(l.done());
    REQUIRE(l.value());
    CHECK(l.value()->item.value == "new");
    CHECK(l.value()->item.seq == 2);
    CHECK(l.value()->hops == 1);
    // The cache target is the nearest answer that lacked the newest version: batch[1].
    const auto* cache = l.cache_target();
    REQUIRE(cache);
    CHECK(cache->id == batch[1].id);
}

TEST_CASE("a value lookup does not wait for queries farther from the key than the value's holder",
          "[lookup]") {
    Peers peers(30);
    const NodeId target = NodeId::from_key("key");
    LookupParams p = params(target);
    p.stop_at_value = true;
    Lookup l(p);
    peers.seed(l);
    auto batch = l.next_queries();
    REQUIRE(batch.size() == 3);
    // The nearest answers with the value: the farther two, still waiting, are not awaited (a
    // converged lookup may have the rest of the k nearest in flight).
    l.on_reply(batch[0].id, {}, std::string("t0"), krpc::Item{"key", "v", 3});
    CHECK(l.done());
    REQUIRE(l.value());
    CHECK(l.value()->item.seq == 3);
}

TEST_CASE("a value older than min_seq is ignored", "[lookup]") {
    Peers peers(3);
    LookupParams p = params(NodeId::from_key("key"));
    p.stop_at_value = true;
    p.min_seq = 5;
    Lookup l(p);
    peers.seed(l);
    for (const auto& c : l.next_queries()) {
        l.on_reply(c.id, {}, std::string("t"), krpc::Item{"key", "stale", 4});
    }
    CHECK(l.done());
    CHECK_FALSE(l.value());
}

TEST_CASE("a lookup never adds itself or unusable endpoints as candidates", "[lookup]") {
    LookupParams p = params(id_from(10));
    Lookup l(p);
    l.add_seed(p.self, ep("10.0.0.1:1"));
    l.add_seed(id_from(11), ep("10.0.0.2:0"));
    l.add_seed(id_from(12), ep("0.0.0.0:5"));
    CHECK(l.candidates() == 0);
    CHECK(l.done());
}

TEST_CASE("candidates alike in the first 64 bits of their distance are ordered by the rest",
          "[lookup]") {
    // Every ID shares its first 12 bytes with the target: the ranks' keys are all zero, and the
    // order must come from the IDs' later bytes.
    const NodeId target = id_from(21);
    Peers peers(0);
    for (std::uint32_t i = 0; i < 60; ++i) {
        NodeId::Bytes b = target.bytes();
        const std::uint32_t tail = (i * 2654435761u) ^ 0x5a5a5a5au;  // arrival order is not sorted
        for (int j = 0; j < 4; ++j) b[16 + j] = static_cast<std::uint8_t>(tail >> (8 * j));
        b[12] ^= static_cast<std::uint8_t>(i % 3);  // some differ earlier, past the key
        peers.all.push_back({*NodeId::from_bytes({reinterpret_cast<const char*>(b.data()), 20}),
                             Endpoint::v4({10, 2, 0, static_cast<std::uint8_t>(i)}, 7000)});
    }
    LookupParams p = params(target);
    p.max_candidates = 40;  // the 20 farthest are turned away or pushed out
    Lookup l(p);
    peers.seed(l);
    CHECK(l.candidates() == 40);
    const auto truth = peers.nearest(target, 20);
    const auto batch = l.next_queries();
    REQUIRE(batch.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(batch[i].id == truth[i].id);
    for (const auto& c : batch) {
        auto nodes = truth;
        std::erase_if(nodes, [&](const auto& n) { return n.id == c.id; });
        l.on_reply(c.id, nodes, std::string("tok"), std::nullopt);
    }
    run_to_end(l, peers, 20);
    const auto results = l.results();
    REQUIRE(results.size() == 20);
    for (std::size_t i = 0; i < 20; ++i) CHECK(results[i]->id == truth[i].id);
}

TEST_CASE("the candidate list is bounded, keeping the nearest", "[lookup]") {
    Peers peers(100);
    const NodeId target = id_from(13);
    LookupParams p = params(target);
    p.max_candidates = 30;
    Lookup l(p);
    peers.seed(l);
    CHECK(l.candidates() == 30);
    const auto truth = peers.nearest(target, 3);
    auto batch = l.next_queries();
    for (std::size_t i = 0; i < 3; ++i) CHECK(batch[i].id == truth[i].id);
}

TEST_CASE(
    "Lookup with need_token: answers without a token route it but take none of the k "
    "places, so it converges on the k nearest nodes that can hold values",
    "[lookup]") {
    const NodeId target = id_from(77);
    Peers peers(60);
    const auto nearest = peers.nearest(target, 60);
    // The 10 nearest nodes are foreign: they answer without a token.
    auto foreign = [&](const NodeId& id) {
        for (std::size_t i = 0; i < 10; ++i) {
            if (nearest[i].id == id) return true;
        }
        return false;
    };
    auto p = params(target, 8);
    p.need_token = true;
    Lookup l(p);
    peers.seed(l);
    while (!l.done()) {
        auto batch = l.next_queries();
        REQUIRE(!batch.empty());
        for (const auto& c : batch) {
            auto nodes = peers.nearest(target, 9);
            std::erase_if(nodes, [&](const auto& n) { return n.id == c.id; });
            l.on_reply(c.id, nodes,
                       foreign(c.id) ? std::nullopt : std::optional<std::string>("tok"),
                       std::nullopt);
        }
    }
    const auto results = l.results();
    REQUIRE(results.size() == 8);
    for (std::size_t i = 0; i < results.size(); ++i) {
        INFO(i);
        CHECK(results[i]->id == nearest[10 + i].id);  // the nearest that gave a token
        CHECK(results[i]->token);
    }
    // Without need_token, the same answers make the foreign nodes the result.
    Lookup plain(params(target, 8));
    for (const auto& n : peers.all) plain.add_seed(n.id, n.endpoint);
    while (!plain.done()) {
        for (const auto& c : plain.next_queries()) {
            plain.on_reply(c.id, {}, foreign(c.id) ? std::nullopt : std::optional<std::string>("t"),
                           std::nullopt);
        }
    }
    CHECK(plain.results().front()->id == nearest[0].id);
}

namespace {

// Runs `l` over `peers` (each answering with every peer) until it has nothing more to send,
// leaving `silent` unanswered: each of their queries passes its soft timeout, and is sent again.
void answer_all_but(Lookup& l, const Peers& peers, const std::vector<NodeId>& silent) {
    auto is_silent = [&](const NodeId& id) {
        return std::find(silent.begin(), silent.end(), id) != silent.end();
    };
    for (int guard = 0; guard < 100; ++guard) {
        auto batch = l.next_queries();
        if (batch.empty()) break;
        for (const auto& c : batch) {
            if (is_silent(c.id)) continue;
            l.on_reply(c.id, peers.all, std::nullopt, std::nullopt);
        }
        for (const auto& c : batch) {
            if (is_silent(c.id)) l.on_soft_timeout(c.id);
        }
    }
}

}  // namespace

TEST_CASE(
    "patience: a converged lookup waits for its nearest silent candidate until a query to it "
    "fails, and takes its late answer",
    "[lookup]") {
    Peers peers(30);
    const NodeId target = id_from(7);
    const NodeId nearest = peers.nearest(target, 1)[0].id;
    for (const bool answers : {true, false}) {
        INFO("the nearest answers late: " << answers);
        LookupParams lp = params(target);
        lp.max_attempts = 2;
        Lookup l(lp);
        peers.seed(l);
        answer_all_but(l, peers, {nearest});
        REQUIRE(l.status(nearest));
        CHECK(l.status(nearest)->state == State::Slow);
        CHECK(l.status(nearest)->attempts == 2);
        CHECK(l.status(nearest)->outstanding == 2);
        CHECK(l.next_queries().empty());
        // Every other candidate has answered, and both of its queries are past their soft
        // timeouts: without patience the lookup would end here (the test above).
        CHECK_FALSE(l.done());
        if (answers) {
            l.on_reply(nearest, {}, std::nullopt, std::nullopt);
            CHECK(l.done());
            REQUIRE_FALSE(l.results().empty());
            CHECK(l.results().front()->id == nearest);
        } else {
            l.on_failed(nearest, false);  // the first query's hard timeout
            CHECK(l.done());
            REQUIRE(l.results().size() == 20);
            for (const auto* r : l.results()) CHECK(r->id != nearest);
        }
    }
    // Without patience the same lookup ends at the soft timeouts, without the nearest.
    LookupParams lp = params(target);
    lp.max_attempts = 2;
    lp.wait_nearest = 0;
    Lookup hasty(lp);
    peers.seed(hasty);
    answer_all_but(hasty, peers, {nearest});
    CHECK(hasty.done());
    for (const auto* r : hasty.results()) CHECK(r->id != nearest);
}

TEST_CASE(
    "patience is only for the nearest wait_nearest, and not where more of the k nearest are "
    "silent than wait_max_silent (stale contacts)",
    "[lookup]") {
    Peers peers(30);
    const NodeId target = id_from(7);
    const auto near = peers.nearest(target, 5);
    LookupParams lp = params(target);
    lp.max_attempts = 2;
    lp.wait_nearest = 1;
    lp.wait_max_silent = 2;
    // Whether a lookup on `p`, with these candidates silent and every other answering, still
    // waits once it has nothing more to send.
    const auto waits = [&](const LookupParams& p, const std::vector<NodeId>& silent) {
        Lookup l(p);
        peers.seed(l);
        answer_all_but(l, peers, silent);
        return !l.done();
    };
    // The second nearest silent, the nearest answering: no one to wait for.
    CHECK_FALSE(waits(lp, {near[1].id}));
    // The nearest and the fourth silent: two, within wait_max_silent: it waits.
    CHECK(waits(lp, {near[0].id, near[3].id}));
    // Wider patience takes in the second nearest.
    LookupParams wide = lp;
    wide.wait_nearest = 2;
    CHECK(waits(wide, {near[1].id}));
    // Three silent among the k nearest: likelier dead than slow; it ends at their soft timeouts,
    // unless wait_max_silent allows three.
    CHECK_FALSE(waits(lp, {near[0].id, near[2].id, near[4].id}));
    LookupParams three = lp;
    three.wait_max_silent = 3;
    CHECK(waits(three, {near[0].id, near[2].id, near[4].id}));
}
