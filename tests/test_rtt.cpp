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
    CHECK_FALSE(e.srtt().has_value());
    CHECK_FALSE(e.timeout().has_value());
    e.add_sample(100ms);
    CHECK(e.srtt() == std::optional<kad::Duration>(100ms));
    CHECK(e.rttvar() == 50ms);
    CHECK(e.timeout() == std::optional<kad::Duration>(300ms));  // 100 + 4 * 50
    e.add_sample(200ms);
    CHECK(*e.srtt() == 112500us);  // 7/8 * 100 + 1/8 * 200
    CHECK(e.rttvar() == 62500us);  // 3/4 * 50 + 1/4 * |100 - 200|
    e.reset();
    CHECK_FALSE(e.srtt().has_value());
    CHECK(e.rttvar() == 0ms);
}

TEST_CASE("Contact: its RTT estimate is an RttEstimator", "[rtt][routing]") {
    Contact c;
    CHECK_FALSE(c.srtt().has_value());
    c.add_sample(100ms);
    CHECK(c.srtt() == std::optional<kad::Duration>(100ms));
    CHECK(c.rttvar() == 50ms);
    c.add_sample(200ms);
    CHECK(*c.srtt() == 112500us);
    CHECK(c.rttvar() == 62500us);
}

TEST_CASE(
    "RttWindow: the quantile of the last 128 round trips, none before the first; a timeout "
    "only from the eighth",
    "[rtt]") {
    using std::chrono::milliseconds;
    kad::RttWindow w(0.9);
    CHECK_FALSE(w.value());
    CHECK_FALSE(w.timeout());
    w.add_sample(milliseconds(40));
    REQUIRE(w.value());
    CHECK(*w.value() == milliseconds(40));
    // One near node's round trip says nothing of the others': no timeout from it yet.
    for (std::size_t i = 1; i < kad::RttWindow::kMinSamples; ++i) {
        CHECK_FALSE(w.timeout());
        w.add_sample(milliseconds(40));
    }
    REQUIRE(w.timeout());
    CHECK(*w.timeout() == milliseconds(50));  // and a quarter
    // 1..100 ms: the 90th percentile is 90 ms (rank 0.9 x 99 = 89, the 90th smallest).
    kad::RttWindow u(0.9);
    for (int i = 1; i <= 100; ++i) u.add_sample(milliseconds((i * 37) % 100 + 1));
    // Recomputed every 16 samples: after 96 of them, not yet the 100th.
    for (int i = 0; i < 12; ++i) u.add_sample(milliseconds(50));  // 112 samples in all
    REQUIRE(u.value());
    CHECK(*u.value() >= milliseconds(85));
    CHECK(*u.value() <= milliseconds(95));
    // A heavy tail moves a mean-plus-deviations estimate far more than the quantile.
    kad::RttWindow tail(0.9);
    kad::RttEstimator mean;
    for (int i = 0; i < 256; ++i) {
        const auto rtt = milliseconds(i % 20 == 0 ? 1500 : 150);  // 5 % of paths at 1.5 s
        tail.add_sample(rtt);
        mean.add_sample(rtt);
    }
    CHECK(*tail.value() == milliseconds(150));
    CHECK(*mean.timeout() > 2 * *tail.value());
    // Old samples leave: 128 later ones replace them all.
    for (int i = 0; i < 256; ++i) tail.add_sample(milliseconds(30));
    CHECK(*tail.value() == milliseconds(30));
}

TEST_CASE(
    "RttWindow::longest: the longest round trip, remembered past the window and fading over "
    "about a thousand later ones",
    "[rtt]") {
    using std::chrono::milliseconds;
    kad::RttWindow w;
    CHECK_FALSE(w.longest());
    w.add_sample(milliseconds(100));
    REQUIRE(w.longest());
    CHECK(*w.longest() == milliseconds(100));
    w.add_sample(milliseconds(1500));  // one slow host
    CHECK(*w.longest() == milliseconds(1500));
    // 500 fast replies later it has left the window, but the longest still shows it.
    for (int i = 0; i < 500; ++i) w.add_sample(milliseconds(100));
    CHECK(*w.value() == milliseconds(100));
    CHECK(*w.longest() > milliseconds(800));
    CHECK(*w.longest() < milliseconds(1500));
    // 5,000 later it has faded to the round trips seen since.
    for (int i = 0; i < 4500; ++i) w.add_sample(milliseconds(100));
    CHECK(*w.longest() < milliseconds(120));
    CHECK(*w.longest() >= milliseconds(100));
}

TEST_CASE(
    "LateAnswers: the share of queries past their soft timeout that were answered, the past "
    "fading",
    "[rtt]") {
    kad::LateAnswers late;
    CHECK(late.endings() == 0);
    CHECK(late.share() == 0);
    late.add(true);
    CHECK(late.endings() == 1);
    CHECK(late.share() == 1);
    late.add(false);
    constexpr double f = kad::LateAnswers::kFade;
    CHECK(late.share() == Approx((1 - f) / (2 - f)));  // the first faded
    // Three in four answered, as on the mainline preset.
    for (int i = 0; i < 400; ++i) late.add(i % 4 != 0);
    CHECK(late.share() == Approx(0.75).margin(0.01));
    // A thousand unanswered later, what came before hardly counts.
    for (int i = 0; i < 1000; ++i) late.add(false);
    CHECK(late.share() < 0.02);
    CHECK(late.endings() == 1402);  // counted whole, not faded
}
