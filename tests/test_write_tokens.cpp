// Write tokens (BEP 5): made for an address, valid for one to two rotation periods.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/write_tokens.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

TEST_CASE("WriteTokens: a token is for an address, whatever the port", "[tokens]") {
    SeededRandom rng(3);
    WriteTokens tokens(5min, rng, TimePoint{});
    const std::string t = tokens.issue(ep("10.0.0.2:4000"));
    CHECK(t.size() == WriteTokens::kSize);
    CHECK(tokens.valid(t, ep("10.0.0.2:4000")));
    CHECK(tokens.valid(t, ep("10.0.0.2:9999")));
    CHECK_FALSE(tokens.valid(t, ep("10.0.0.3:4000")));
    CHECK_FALSE(tokens.valid("", ep("10.0.0.2:4000")));
    CHECK_FALSE(tokens.valid(t + "x", ep("10.0.0.2:4000")));
    CHECK(tokens.issue(ep("10.0.0.2:1")) != tokens.issue(ep("10.0.0.3:1")));
}

TEST_CASE("WriteTokens: valid for one to two rotation periods", "[tokens]") {
    SeededRandom rng(3);
    const TimePoint t0{};
    WriteTokens tokens(5min, rng, t0);
    const std::string t = tokens.issue(ep("10.0.0.2:4000"));
    CHECK(tokens.next_rotation() == t0 + 5min);
    tokens.rotate_if_due(t0 + 4min);  // not yet
    CHECK(tokens.issue(ep("10.0.0.2:4000")) == t);
    tokens.rotate_if_due(t0 + 5min);
    CHECK(tokens.next_rotation() == t0 + 10min);
    CHECK(tokens.issue(ep("10.0.0.2:4000")) != t);
    CHECK(tokens.valid(t, ep("10.0.0.2:4000")));  // the previous secret
    tokens.rotate_if_due(t0 + 10min);
    CHECK_FALSE(tokens.valid(t, ep("10.0.0.2:4000")));
}
