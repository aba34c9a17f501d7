// RttEstimator: the one RFC 6298 estimate behind every soft timeout (the node's and each
// contact's).

#include <catch2/catch.hpp>

#include "kad/routing_table.hpp"
#include "kad/rtt.hpp"

using kad::Contact;
using kad::RttEstimator;
using namespace std::chrono_literals;

TEST_CASE("RttEstimator: RTT smoothing as RFC 6298", "[rtt]") {
    RttEstimator e;
    CHECK_FALSE(e.srtt.has_value());
    CHECK_FALSE(e.timeout().has_value());
    e.add_sample(100ms);
    CHECK(e.srtt == std::optional<kad::Duration>(100ms));
    CHECK(e.rttvar == 50ms);
    CHECK(e.timeout() == std::optional<kad::Duration>(300ms));  // 100 + 4 * 50
    e.add_sample(200ms);
    CHECK(*e.srtt == 112500us);  // 7/8 * 100 + 1/8 * 200
    CHECK(e.rttvar == 62500us);  // 3/4 * 50 + 1/4 * |100 - 200|
    e.reset();
    CHECK_FALSE(e.srtt.has_value());
    CHECK(e.rttvar == 0ms);
}

TEST_CASE("Contact: its RTT estimate is an RttEstimator", "[rtt][routing]") {
    Contact c;
    CHECK_FALSE(c.srtt.has_value());
    c.add_sample(100ms);
    CHECK(c.srtt == std::optional<kad::Duration>(100ms));
    CHECK(c.rttvar == 50ms);
    c.add_sample(200ms);
    CHECK(*c.srtt == 112500us);
    CHECK(c.rttvar == 62500us);
}
