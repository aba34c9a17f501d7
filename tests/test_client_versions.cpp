// Which implementation each contact is ("v"), kept beside the routing table.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "kad/client_versions.hpp"
#include "kad/foreign_nodes.hpp"
#include "kad/routing_table.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

TEST_CASE("describe_client: a two-letter code and hex, printable text as it is, none for empty",
          "[client]") {
    CHECK(describe_client(std::string("LT\x01\x02", 4)) == "LT 0102");
    CHECK(describe_client(std::string("KN\x00\x01", 4)) == "KN 0001");
    CHECK(describe_client("WD-1.2") == "WD-1.2");
    CHECK(describe_client("") == "none");
    CHECK(describe_client(std::string("\x01\x02", 2)) == "0102");
}

TEST_CASE("ClientVersions: only contacts whose version is not ours are kept, and the latest counts",
          "[client]") {
    const std::string own("KN\x00\x01", 4);
    RoutingTable table(id_from(1), RoutingConfig{}, TimePoint{});
    ClientVersions v(own);
    const NodeId lt = id_from(2), kn = id_from(3), silent = id_from(4), stranger = id_from(5);
    for (const auto& [id, port] : {std::pair{lt, 1}, {kn, 2}, {silent, 3}}) {
        table.on_answered(TimePoint{}, id,
                          Endpoint::v4({10, 0, 0, 1}, static_cast<std::uint16_t>(port)), 1ms);
    }
    v.note(lt, std::string("LT\x01\x02", 4), table);
    v.note(kn, own, table);
    v.note(silent, "", table);
    v.note(stranger, "XX", table);  // not a contact: not kept
    CHECK(v.of(lt) == std::string("LT\x01\x02", 4));
    CHECK(v.of(kn) == own);
    CHECK(v.of(silent).empty());
    CHECK(v.of(stranger) == own);
    CHECK(v.size() == 2);
    v.note(lt, own, table);  // it was upgraded
    CHECK(v.of(lt) == own);
    CHECK(v.size() == 1);
}

TEST_CASE("ClientVersions: entries of nodes that left the table are pruned as it grows",
          "[client]") {
    RoutingTable table(id_from(1), RoutingConfig{}, TimePoint{});
    ClientVersions v("KN");
    for (std::uint64_t i = 0; i < 200; ++i) {
        const NodeId id = id_from(100 + i);
        const Endpoint at = Endpoint::v4({10, 0, static_cast<std::uint8_t>(i), 1}, 6881);
        table.on_answered(TimePoint{}, id, at, 1ms);
        v.note(id, "LT", table);
        table.remove(id, at);  // gone again
    }
    CHECK(v.size() <= 2 * table.size() + 65);
}

TEST_CASE(
    "ForeignNodes: bounded, the oldest giving way; a suspect becomes foreign only by "
    "answering",
    "[client]") {
    ForeignNodes f({.nodes = 3, .suspects = 2});
    for (std::uint64_t i = 1; i <= 4; ++i) f.add(id_from(i));
    CHECK(f.size() == 3);
    CHECK_FALSE(f.contains(id_from(1)));
    CHECK(f.contains(id_from(4)));
    f.suspect(id_from(10));
    f.suspect(id_from(11));
    f.suspect(id_from(12));  // the oldest suspect, 10, is forgotten
    f.answered(id_from(10));
    CHECK_FALSE(f.contains(id_from(10)));
    f.answered(id_from(12));
    CHECK(f.contains(id_from(12)));
    CHECK_FALSE(f.contains(id_from(2)));  // the oldest then
    CHECK(f.contains(id_from(3)));
    // Round and round: always the last three added.
    std::vector<std::uint64_t> last = {3, 4, 12};
    for (std::uint64_t i = 20; i < 30; ++i) {
        f.add(id_from(i));
        CHECK_FALSE(f.contains(id_from(last.front())));
        last.erase(last.begin());
        last.push_back(i);
        CHECK(f.size() == 3);
        for (const std::uint64_t kept : last) CHECK(f.contains(id_from(kept)));
    }
    f.answered(id_from(13));  // never suspected
    CHECK_FALSE(f.contains(id_from(13)));
}
