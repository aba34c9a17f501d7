// SeenSeq: the highest seq seen per key, bounded, oldest forgotten first.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/seen_seq.hpp"

using namespace kad;
using namespace kad::test;

TEST_CASE("SeenSeq: keeps the highest seq seen for a key", "[seen]") {
    SeenSeq s(10);
    CHECK_FALSE(s.get(id_from(1)));
    CHECK_FALSE(s.note(id_from(1), 5));
    CHECK(s.get(id_from(1)) == std::optional<std::int64_t>(5));
    s.note(id_from(1), 3);  // older: ignored
    CHECK(s.get(id_from(1)) == std::optional<std::int64_t>(5));
    s.note(id_from(1), 9);
    CHECK(s.get(id_from(1)) == std::optional<std::int64_t>(9));
    CHECK(s.size() == 1);
}

TEST_CASE("SeenSeq: at capacity the key noted first is forgotten", "[seen]") {
    SeenSeq s(3);
    for (int i = 1; i <= 3; ++i) CHECK_FALSE(s.note(id_from(i), i));
    CHECK(s.note(id_from(4), 4));  // forgets key 1
    CHECK_FALSE(s.get(id_from(1)));
    CHECK(s.get(id_from(2)));
    CHECK(s.note(id_from(5), 5));  // then key 2
    CHECK_FALSE(s.get(id_from(2)));
    CHECK(s.get(id_from(3)));
    CHECK(s.size() == 3);
}

TEST_CASE("SeenSeq: capacity 0 remembers nothing", "[seen]") {
    SeenSeq s(0);
    CHECK_FALSE(s.note(id_from(1), 1));
    CHECK_FALSE(s.get(id_from(1)));
}
