// The transaction table: IDs, matching, and two-level timeouts.

#include <catch2/catch.hpp>
#include <set>

#include "helpers.hpp"
#include "kad/transactions.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

TransactionTable::Entry entry(std::uint16_t tid, const Endpoint& to, std::optional<NodeId> id,
                              TimePoint soft, TimePoint hard, int* calls = nullptr) {
    TransactionTable::Entry e;
    e.tid = tid;
    e.to = to;
    e.expected_id = id;
    e.soft_deadline = soft;
    e.hard_deadline = hard;
    e.handler = [calls](const RpcEvent&) {
        if (calls) ++*calls;
    };
    return e;
}

}  // namespace

TEST_CASE("allocated transaction ids are distinct while open", "[transactions]") {
    SeededRandom rng(1);
    TransactionTable t(5000);
    std::set<std::uint16_t> seen;
    for (int i = 0; i < 5000; ++i) {
        auto tid = t.allocate(rng);
        REQUIRE(tid);
        CHECK(seen.insert(*tid).second);
        t.add(entry(*tid, ep("10.0.0.1:1"), std::nullopt, TimePoint{} + 1s, TimePoint{} + 2s));
    }
    CHECK_FALSE(t.allocate(rng));  // full
    CHECK(t.size() == 5000);
}

TEST_CASE("a reply matches only its transaction id, endpoint and expected node id",
          "[transactions]") {
    TransactionTable t(10);
    const Endpoint a = ep("10.0.0.1:1");
    const NodeId id = id_from(1);
    t.add(entry(0x0102, a, id, TimePoint{} + 1s, TimePoint{} + 2s));
    TransactionTable::Entry out;
    CHECK(t.take("\x01\x03", a, id, out) == TransactionTable::Match::UnknownTransaction);
    CHECK(t.take("\x01", a, id, out) == TransactionTable::Match::UnknownTransaction);
    CHECK(t.take("\x01\x02", ep("10.0.0.2:1"), id, out) == TransactionTable::Match::WrongEndpoint);
    CHECK(t.size() == 1);
    CHECK(t.take("\x01\x02", a, id_from(2), out) == TransactionTable::Match::WrongId);
    CHECK(t.size() == 0);  // the endpoint answered as someone else: the query is over

    t.add(entry(0x0102, a, id, TimePoint{} + 1s, TimePoint{} + 2s));
    CHECK(t.take("\x01\x02", a, id, out) == TransactionTable::Match::Ok);
    CHECK(out.tid == 0x0102);
    CHECK(t.size() == 0);
    CHECK(t.next_deadline() == TimePoint::max());
}

TEST_CASE("soft timeouts keep the transaction; hard timeouts remove it", "[transactions]") {
    TransactionTable t(10);
    const Endpoint a = ep("10.0.0.1:1");
    t.add(entry(1, a, std::nullopt, TimePoint{} + 100ms, TimePoint{} + 2s));
    t.add(entry(2, a, std::nullopt, TimePoint{} + 300ms, TimePoint{} + 2s));
    CHECK(t.next_deadline() == TimePoint{} + 100ms);
    std::vector<std::uint16_t> soft;
    std::vector<TransactionTable::Entry> hard;
    t.expire(TimePoint{} + 150ms, soft, hard);
    CHECK(soft == std::vector<std::uint16_t>{1});
    CHECK(hard.empty());
    CHECK(t.find(1));
    CHECK(t.next_deadline() == TimePoint{} + 300ms);
    soft.clear();
    // Woken only at the hard deadline: the query has failed; a soft timeout would be news to
    // nobody.
    t.expire(TimePoint{} + 2s, soft, hard);
    CHECK(soft.empty());
    CHECK(hard.size() == 2);
    CHECK(t.size() == 0);
    // A late reply to an expired transaction is unknown.
    TransactionTable::Entry out;
    CHECK(t.take(TransactionTable::encode_tid(1), a, std::nullopt, out) ==
          TransactionTable::Match::UnknownTransaction);
}

TEST_CASE("take_all empties the table", "[transactions]") {
    TransactionTable t(10);
    t.add(entry(1, ep("10.0.0.1:1"), std::nullopt, TimePoint{} + 1s, TimePoint{} + 2s));
    t.add(entry(2, ep("10.0.0.1:1"), std::nullopt, TimePoint{} + 1s, TimePoint{} + 2s));
    CHECK(t.take_all().size() == 2);
    CHECK(t.size() == 0);
    CHECK(t.next_deadline() == TimePoint::max());
}
