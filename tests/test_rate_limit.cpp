#include <catch2/catch.hpp>
#include <chrono>

#include "kad/rate_limit.hpp"

using kad::Endpoint;
using kad::RateLimitConfig;
using kad::RateLimiter;
using kad::TimePoint;
using Verdict = kad::RateLimiter::Verdict;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;
const Endpoint attacker = Endpoint::v4({198, 51, 100, 7}, 6881);
const Endpoint honest = Endpoint::v4({203, 0, 113, 9}, 6881);

RateLimitConfig small() {
    RateLimitConfig c;
    c.rate = 10;
    c.burst = 20;
    c.local_rate = 100;
    c.local_burst = 200;
    c.global_rate = 1000;
    c.global_burst = 1000;
    c.ignore_for = 1min;
    return c;
}

// Sends n datagrams at time t; returns how many were allowed.
int send(RateLimiter& r, TimePoint t, const Endpoint& from, int n, bool trusted = false) {
    int allowed = 0;
    for (int i = 0; i < n; ++i) {
        if (!r.ignored(t, from) && r.charge(t, from, trusted) == Verdict::Allow) ++allowed;
    }
    return allowed;
}

}  // namespace

TEST_CASE("rate limit: a source gets its burst, then its rate", "[rate]") {
    RateLimiter r(small());
    CHECK(send(r, t0, attacker, 25) == 20);
    CHECK(r.stats().dropped_source == 5);
    CHECK(send(r, t0 + 500ms, attacker, 10) == 5);  // half a second refills 5
    // Another port of the same IPv4 address is the same source; another address is not.
    CHECK(send(r, t0 + 500ms, attacker.with_port(1), 1) == 0);
    CHECK(send(r, t0 + 500ms, honest, 20) == 20);
}

TEST_CASE("rate limit: a source that keeps sending past its rate is ignored for a while",
          "[rate]") {
    RateLimiter r(small());
    // Its burst (20), then more than a burst of drops: ignored.
    CHECK(send(r, t0, attacker, 20 + 21) == 20);
    CHECK(r.stats().sources_ignored == 1);
    CHECK(r.ignored(t0 + 30s, attacker));
    CHECK(send(r, t0 + 59s, attacker, 1) == 0);
    CHECK(r.stats().dropped_ignored >= 2);
    // After the time-out it starts again from a refilled bucket.
    CHECK_FALSE(r.ignored(t0 + 61s, attacker));
    CHECK(send(r, t0 + 61s, attacker, 5) == 5);
    // An honest source sending at its rate is never ignored. (Time only goes forward: the node's
    // clock is a steady one.)
    for (int s = 0; s < 100; ++s) CHECK(send(r, t0 + 62s + s * 1s, honest, 10) == 10);
    CHECK(r.stats().sources_ignored == 1);
}

TEST_CASE("rate limit: a burst is exact at any rate, not only where 1/rate is whole nanoseconds",
          "[rate]") {
    auto c = small();
    c.rate = 7;  // 142,857,142.857... ns a datagram
    c.burst = 35;
    RateLimiter r(c);
    // All 35 at once, then none; 35 more drops is a debt of one burst, the 36th puts it past.
    CHECK(send(r, t0, attacker, 35 + 35) == 35);
    CHECK(r.stats().sources_ignored == 0);
    CHECK(send(r, t0, attacker, 1) == 0);
    CHECK(r.stats().sources_ignored == 1);
    // A rate past one datagram a nanosecond still holds a source to its burst at one instant.
    c.rate = 1e12;
    c.burst = 3;
    RateLimiter fast(c);
    CHECK(send(fast, t0, honest, 10) == 3);
}

TEST_CASE("rate limit: loopback is counted per port, private ranges generously", "[rate]") {
    RateLimiter r(small());
    const Endpoint a = *Endpoint::parse("127.0.0.1:4000");
    const Endpoint b = *Endpoint::parse("127.0.0.1:4001");
    CHECK(send(r, t0, a, 300) == 200);
    CHECK(send(r, t0, b, 10) == 10);
    const Endpoint lan = *Endpoint::parse("192.168.1.5:6881");
    CHECK(send(r, t0, lan, 150) == 150);
    const Endpoint v6a = *Endpoint::parse("[2001:db8:1:2::1]:1");
    const Endpoint v6b = *Endpoint::parse("[2001:db8:1:2::2]:1");
    CHECK(send(r, t0, v6a, 15) == 15);
    CHECK(send(r, t0, v6b, 15) == 5);  // the same /64
}

TEST_CASE("rate limit: the global budget, with contacts exempt", "[rate]") {
    auto c = small();
    c.global_rate = 10;
    c.global_burst = 30;
    RateLimiter r(c);
    int allowed = 0;
    for (int i = 0; i < 10; ++i) {
        allowed += send(r, t0, Endpoint::v4({198, 51, 100, static_cast<std::uint8_t>(i)}, 1), 5);
    }
    CHECK(allowed == 30);
    CHECK(r.stats().dropped_global == 20);
    // A contact from our routing table still gets through (within its own bucket).
    CHECK(send(r, t0, honest, 5, true) == 5);
    CHECK(send(r, t0, honest, 5, false) == 0);
}

TEST_CASE("rate limit: the source table is bounded", "[rate]") {
    auto c = small();
    c.max_sources = 100;
    RateLimiter r(c);
    for (int i = 0; i < 1000; ++i) {
        const Endpoint e = Endpoint::v4(
            {198, 51, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}, 1);
        send(r, t0 + i * 1ms, e, 1);
        REQUIRE(r.sources() <= 100);
    }
    CHECK(r.stats().sources_full > 0);
    // Once a second has passed, idle sources (full buckets again) are forgotten for new ones.
    CHECK(send(r, t0 + 10s, honest, 1) == 1);
    CHECK(r.sources() <= 100);
}

TEST_CASE("rate limit: quiet sources are forgotten, busy and ignored ones kept", "[rate]") {
    RateLimiter r(small());  // rate 10/s, burst 20
    const Endpoint busy = Endpoint::v4({198, 51, 100, 8}, 6881);
    for (int i = 0; i < 50; ++i) {
        send(r, t0, Endpoint::v4({203, 0, 113, static_cast<std::uint8_t>(i)}, 1), 1);
    }
    send(r, t0, attacker, 1000);  // far past its burst: ignored for a minute
    send(r, t0, busy, 20);        // its whole burst: 0 tokens left
    CHECK(r.sources() == 52);
    // 1.1 s later the next datagram sweeps: the 50 quiet sources have refilled their buckets and
    // are forgotten; the busy source has 11 of 20 tokens and stays, so does the ignored one.
    send(r, t0 + 1100ms, honest, 1);
    CHECK(r.sources() == 3);
    CHECK(send(r, t0 + 1100ms, attacker, 1) == 0);
    // The busy source's bucket was kept: 11 tokens, not a fresh 20.
    CHECK(send(r, t0 + 1100ms, busy, 20) == 11);
}

TEST_CASE("rate limit: the table holds the sources that sent lately, not all of the last second",
          "[rate]") {
    RateLimiter r(small());  // rate 10/s: one datagram keeps a source for 100 ms
    // 900 sources, one a millisecond, all within one sweep's second: about 100 at a time have a
    // bucket that is not full again.
    for (int i = 0; i < 900; ++i) {
        const Endpoint e = Endpoint::v4(
            {198, 51, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}, 1);
        REQUIRE(send(r, t0 + i * 1ms, e, 1) == 1);
        REQUIRE(r.sources() <= 300);
    }
    // A source whose bucket is not full again was not forgotten: one with 2 tokens left.
    const Endpoint busy = Endpoint::v4({203, 0, 113, 200}, 1);
    CHECK(send(r, t0 + 900ms, busy, 18) == 18);
    for (int i = 0; i < 300; ++i) {
        send(r, t0 + 900ms + i * 1ms, Endpoint::v4({192, 0, 2, static_cast<std::uint8_t>(i)}, 1),
             1);
    }
    CHECK(send(r, t0 + 1200ms, busy, 10) == 5);  // 2 + 0.3 s at 10/s, no more
    // Once the traffic is over, the next sweep leaves no table behind.
    send(r, t0 + 10s, honest, 1);
    CHECK(r.sources() == 1);
}

TEST_CASE("rate limit: at its bound, a new source takes a quiet source's slot before the sweep",
          "[rate]") {
    auto c = small();  // rate 10/s: a source's one datagram keeps it for 100 ms
    c.max_sources = 100;
    c.global_burst = 1e6;
    RateLimiter r(c);
    const auto source = [](int i) {
        return Endpoint::v4(
            {198, 51, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i % 256)}, 1);
    };
    for (int i = 0; i < 100; ++i) REQUIRE(send(r, t0, source(i), 1) == 1);
    CHECK(r.sources() == 100);
    // Half a second later every one of them is quiet, and the next sweep is half a second away:
    // a newcomer whose probe meets a quiet source's slot takes it; the others find the table full
    // and are judged by the global budget alone (counted).
    for (int i = 100; i < 200; ++i) CHECK(send(r, t0 + 500ms, source(i), 1) == 1);
    CHECK(r.sources() <= 100);
    CHECK(r.stats().sources_full > 0);
    CHECK(r.stats().sources_full < 90);  // without taking quiet slots: all 100
}

TEST_CASE("rate limit: forgetting an ignored source keeps every other source's bucket", "[rate]") {
    auto c = small();
    c.global_burst = 1e6;
    for (const std::uint64_t seed : {0ULL, 1ULL, 0x9e3779b97f4a7c15ULL}) {
        RateLimiter r(c, seed);
        const auto source = [](int i) {
            return Endpoint::v4({198, 51, static_cast<std::uint8_t>(100 + i / 256),
                                 static_cast<std::uint8_t>(i % 256)},
                                1);
        };
        // 300 sources spend 15 of their 20 tokens; every tenth then sends past its bucket and is
        // put on ignore, which takes it out of the table while its neighbours stay.
        for (int i = 0; i < 300; ++i) REQUIRE(send(r, t0, source(i), 15) == 15);
        for (int i = 0; i < 300; i += 10) REQUIRE(send(r, t0, source(i), 100) == 5);
        CHECK(r.stats().sources_ignored == 30);
        for (int i = 0; i < 300; ++i) {
            INFO("seed " << seed << ", source " << i);
            CHECK(send(r, t0, source(i), 10) == (i % 10 == 0 ? 0 : 5));
        }
        CHECK(r.sources() == 300);
    }
}

TEST_CASE("rate limit: off means off", "[rate]") {
    auto c = small();
    c.enabled = false;
    RateLimiter r(c);
    CHECK(send(r, t0, attacker, 10'000) == 10'000);
}
