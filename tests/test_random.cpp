#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "kad/random.hpp"

using kad::SeededRandom;

TEST_CASE("SeededRandom is deterministic for a seed", "[random]") {
    SeededRandom a(12345);
    SeededRandom b(12345);
    for (int i = 0; i < 1000; ++i) REQUIRE(a.next() == b.next());

    // fill() too, including lengths that are not multiples of 8.
    for (std::size_t len : {1u, 3u, 8u, 13u, 64u}) {
        std::vector<std::uint8_t> x(len), y(len);
        a.fill(x);
        b.fill(y);
        CHECK(x == y);
    }
    CHECK(a.uniform(1000) == b.uniform(1000));
    CHECK(a.uniform_real() == b.uniform_real());
}

TEST_CASE("SeededRandom: different seeds give different streams", "[random]") {
    SeededRandom a(1);
    SeededRandom b(2);
    SeededRandom c(0);
    int same_ab = 0;
    int same_ac = 0;
    for (int i = 0; i < 100; ++i) {
        const auto x = a.next();
        same_ab += x == b.next();
        same_ac += x == c.next();
    }
    CHECK(same_ab == 0);
    CHECK(same_ac == 0);
}

TEST_CASE("SeededRandom produces varied output", "[random]") {
    // Not stuck: successive words differ, and seed 0 does not give an all-zero state.
    SeededRandom r(0);
    std::vector<std::uint64_t> words;
    for (int i = 0; i < 64; ++i) words.push_back(r.next());
    std::sort(words.begin(), words.end());
    CHECK(std::adjacent_find(words.begin(), words.end()) == words.end());
    CHECK(words.front() != 0);
}

TEST_CASE("uniform() stays in range", "[random]") {
    SeededRandom r(77);
    for (std::uint64_t bound :
         {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}, std::uint64_t{10},
          std::uint64_t{1} << 40, (std::uint64_t{1} << 63) + 1, UINT64_MAX}) {
        for (int i = 0; i < 2000; ++i) REQUIRE(r.uniform(bound) < bound);
    }
    CHECK(r.uniform(0) == 0);
    CHECK(r.uniform(1) == 0);
    for (int i = 0; i < 2000; ++i) {
        const double x = r.uniform_real();
        REQUIRE(x >= 0.0);
        REQUIRE(x < 1.0);
    }
}

TEST_CASE("uniform() is roughly uniform", "[random]") {
    SeededRandom r(2024);
    constexpr int kBuckets = 10;
    constexpr int kDraws = 100'000;
    std::array<int, kBuckets> counts{};
    for (int i = 0; i < kDraws; ++i) ++counts[r.uniform(kBuckets)];
    // Chi-squared with 9 degrees of freedom: 27.9 is the 0.999 quantile.
    double chi2 = 0;
    const double expected = static_cast<double>(kDraws) / kBuckets;
    for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
    CHECK(chi2 < 27.9);

    // A bound of 3 * 2^62: taking a raw 64-bit draw modulo the bound, without rejecting the
    // top partial range, would give the lowest third of the range half the draws.
    const std::uint64_t big = std::uint64_t{3} << 62;
    int low = 0;
    for (int i = 0; i < 10'000; ++i) low += r.uniform(big) < (std::uint64_t{1} << 62);
    CHECK(low > 3'000);
    CHECK(low < 3'700);

    // uniform_real: the mean of many draws is close to 1/2.
    double sum = 0;
    for (int i = 0; i < kDraws; ++i) sum += r.uniform_real();
    CHECK(sum / kDraws == Approx(0.5).margin(0.01));

    // chance(p) happens about p of the time.
    int hits = 0;
    for (int i = 0; i < kDraws; ++i) hits += r.chance(0.25);
    CHECK(hits == Approx(kDraws / 4).margin(kDraws / 100));
}

TEST_CASE("SystemRandom fills buffers of any length", "[random]") {
    kad::SystemRandom r;
    std::vector<std::uint8_t> a(1000), b(1000);
    r.fill(a);  // more than its internal block, so it refills
    r.fill(b);
    CHECK(a != b);
    CHECK(std::count(a.begin(), a.end(), 0) < 20);
}
