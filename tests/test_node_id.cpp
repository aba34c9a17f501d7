#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "kad/node_id.hpp"
#include "kad/random.hpp"

using kad::NodeId;
using kad::SeededRandom;

namespace {

NodeId from_hex(std::string_view hex) {
    auto id = NodeId::from_hex(hex);
    REQUIRE(id.has_value());
    return *id;
}

// The distance a ^ b compared as a 160-bit big-endian number, computed independently of
// compare_distance: byte-wise lexicographic order of the XOR is big-endian numeric order.
int reference_compare(const NodeId& t, const NodeId& a, const NodeId& b) {
    const auto da = (a ^ t).bytes();
    const auto db = (b ^ t).bytes();
    const int c = std::memcmp(da.data(), db.data(), da.size());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Common prefix length computed bit by bit, as a reference.
int reference_cpl(const NodeId& a, const NodeId& b) {
    for (int i = 0; i < NodeId::kBits; ++i) {
        if (a.bit(i) != b.bit(i)) return i;
    }
    return NodeId::kBits;
}

}  // namespace

TEST_CASE("NodeId hex round trip", "[node_id]") {
    const std::string hex = "0123456789abcdef0123456789abcdef01234567";
    const NodeId id = from_hex(hex);
    CHECK(id.to_hex() == hex);
    CHECK(id.bytes()[0] == 0x01);
    CHECK(id.bytes()[1] == 0x23);
    CHECK(id.bytes()[19] == 0x67);
    CHECK(id.short_hex() == "01234567");

    // Upper case is accepted and printed back in lower case.
    const NodeId upper = from_hex("0123456789ABCDEF0123456789ABCDEF01234567");
    CHECK(upper == id);
    CHECK(upper.to_hex() == hex);

    SeededRandom rng(1);
    for (int i = 0; i < 100; ++i) {
        const NodeId r = NodeId::random(rng);
        CHECK(from_hex(r.to_hex()) == r);
    }
}

TEST_CASE("NodeId from_hex rejects a wrong length with a clear error", "[node_id]") {
    for (std::string_view bad : {"", "0", "0123456789abcdef0123456789abcdef0123456",
                                 "0123456789abcdef0123456789abcdef012345678"}) {
        auto id = NodeId::from_hex(bad);
        REQUIRE_FALSE(id.has_value());
        CHECK_THAT(id.error(), Catch::Contains("40 hex digits"));
        CHECK_THAT(id.error(), Catch::Contains(std::to_string(bad.size()) +
                                               (bad.size() == 1 ? " character" : " characters")));
    }
    CHECK(NodeId::from_hex("0").error() == "an id is 40 hex digits, got 1 character");
}

TEST_CASE("NodeId from_hex names the first character that is not a hex digit", "[node_id]") {
    std::string hex(40, 'a');
    hex[0] = 'g';
    auto id = NodeId::from_hex(hex);
    REQUIRE_FALSE(id.has_value());
    CHECK_THAT(id.error(), Catch::Contains("character 1 "));

    hex = std::string(40, '0');
    hex[17] = ' ';
    id = NodeId::from_hex(hex);
    REQUIRE_FALSE(id.has_value());
    CHECK_THAT(id.error(), Catch::Contains("character 18 "));

    hex = std::string(40, 'F');
    hex[39] = 'x';
    id = NodeId::from_hex(hex);
    REQUIRE_FALSE(id.has_value());
    CHECK_THAT(id.error(), Catch::Contains("character 40 "));
}

TEST_CASE("NodeId from_bytes takes exactly 20 bytes", "[node_id]") {
    const std::string raw(20, '\x5a');
    auto id = NodeId::from_bytes(raw);
    REQUIRE(id.has_value());
    CHECK(id->raw() == raw);
    CHECK_FALSE(NodeId::from_bytes(std::string(19, 'x')).has_value());
    CHECK_FALSE(NodeId::from_bytes(std::string(21, 'x')).has_value());
    CHECK_FALSE(NodeId::from_bytes("").has_value());
}

TEST_CASE("XOR distance properties on random IDs", "[node_id]") {
    SeededRandom rng(42);
    const NodeId zero;
    for (int i = 0; i < 1000; ++i) {
        const NodeId a = NodeId::random(rng);
        const NodeId b = NodeId::random(rng);
        const NodeId c = NodeId::random(rng);
        // Identity: distance to oneself is zero, and only to oneself.
        CHECK((a ^ a) == zero);
        CHECK(((a ^ b) == zero) == (a == b));
        // Symmetry.
        CHECK((a ^ b) == (b ^ a));
        // d(a,b) ^ d(b,c) == d(a,c).
        CHECK(((a ^ b) ^ (b ^ c)) == (a ^ c));
        // Zero is the neutral element.
        CHECK((a ^ zero) == a);
    }
}

TEST_CASE("compare_distance agrees with comparing XOR distances as big-endian numbers",
          "[node_id]") {
    SeededRandom rng(7);
    for (int i = 0; i < 5000; ++i) {
        const NodeId t = NodeId::random(rng);
        const NodeId a = NodeId::random(rng);
        // Half the time b shares a long prefix with a, so the comparison must reach the later
        // words (bytes 8..15 and 16..19).
        const NodeId b =
            i % 2 ? NodeId::random(rng)
                  : NodeId::random_with_prefix(a, static_cast<int>(rng.uniform(160)), rng);
        const int expected = reference_compare(t, a, b);
        const int got = compare_distance(t, a, b);
        CHECK((got < 0 ? -1 : (got > 0 ? 1 : 0)) == expected);
        CHECK(compare_distance(t, b, a) == -got);
        CHECK(compare_distance(t, a, a) == 0);
        // operator<=> on the XOR compares the same numbers.
        CHECK(((a ^ t) < (b ^ t)) == (expected < 0));
    }
    // Exactly one differing low bit in the last word.
    const NodeId t;
    NodeId a = t.with_bit_flipped(159);
    NodeId b = t.with_bit_flipped(158);
    CHECK(compare_distance(t, a, b) < 0);
    CHECK(compare_distance(t, b, a) > 0);
}

TEST_CASE("CloserTo is a strict weak order that sorts by distance", "[node_id]") {
    SeededRandom rng(99);
    const NodeId target = NodeId::random(rng);
    const kad::CloserTo closer{target};
    std::vector<NodeId> ids;
    for (int i = 0; i < 200; ++i) ids.push_back(NodeId::random(rng));
    // A few near the target and a duplicate, to exercise equal elements and long prefixes.
    ids.push_back(target);
    ids.push_back(target.with_bit_flipped(159));
    ids.push_back(ids[3]);

    for (const auto& a : ids) {
        CHECK_FALSE(closer(a, a));  // irreflexive
        for (const auto& b : ids) {
            if (closer(a, b)) CHECK_FALSE(closer(b, a));  // asymmetric
            // Incomparability is equality: XOR with a fixed target is a bijection.
            CHECK((!closer(a, b) && !closer(b, a)) == (a == b));
        }
    }
    for (std::size_t i = 0; i < 60; ++i) {  // transitive (on a subset: cubic)
        for (std::size_t j = 0; j < 60; ++j) {
            for (std::size_t k = 0; k < 60; ++k) {
                if (closer(ids[i], ids[j]) && closer(ids[j], ids[k])) {
                    CHECK(closer(ids[i], ids[k]));
                }
            }
        }
    }

    std::sort(ids.begin(), ids.end(), closer);
    CHECK(ids.front() == target);
    CHECK(ids[1] == target.with_bit_flipped(159));
    for (std::size_t i = 1; i < ids.size(); ++i) {
        CHECK((ids[i - 1] ^ target) <= (ids[i] ^ target));
    }
}

TEST_CASE("common_prefix_length", "[node_id]") {
    const NodeId zero;
    CHECK(common_prefix_length(zero, zero) == 160);
    for (int i = 0; i < 160; ++i) {
        CHECK(common_prefix_length(zero, zero.with_bit_flipped(i)) == i);
        CHECK(common_prefix_length(zero.with_bit_flipped(i), zero) == i);
    }
    SeededRandom rng(3);
    for (int i = 0; i < 1000; ++i) {
        const NodeId a = NodeId::random(rng);
        const NodeId b = NodeId::random_with_prefix(a, static_cast<int>(rng.uniform(161)), rng);
        CHECK(common_prefix_length(a, b) == reference_cpl(a, b));
        CHECK(common_prefix_length(a, a) == 160);
    }
}

TEST_CASE("bit and with_bit_flipped address bits from the most significant", "[node_id]") {
    const NodeId zero;
    const NodeId top = zero.with_bit_flipped(0);
    CHECK(top.bytes()[0] == 0x80);
    CHECK(top.bit(0));
    CHECK_FALSE(top.bit(1));
    const NodeId bottom = zero.with_bit_flipped(159);
    CHECK(bottom.bytes()[19] == 0x01);
    CHECK(bottom.bit(159));
    CHECK(bottom.with_bit_flipped(159) == zero);
}

TEST_CASE("NodeId::random draws from the SeededRandom", "[node_id]") {
    SeededRandom r1(5);
    SeededRandom r2(5);
    SeededRandom r3(6);
    const NodeId a = NodeId::random(r1);
    CHECK(a == NodeId::random(r2));
    CHECK(a != NodeId::random(r3));
    CHECK(a != NodeId::random(r1));  // the source advanced

    // Every bit is set in some ID and clear in another.
    SeededRandom rng(8);
    std::vector<int> ones(160, 0);
    for (int i = 0; i < 200; ++i) {
        const NodeId id = NodeId::random(rng);
        for (int b = 0; b < 160; ++b) ones[b] += id.bit(b);
    }
    for (int b = 0; b < 160; ++b) {
        INFO("bit " << b);
        CHECK(ones[b] > 50);
        CHECK(ones[b] < 150);
    }
}

TEST_CASE("random_with_prefix keeps the prefix bits", "[node_id]") {
    SeededRandom rng(11);
    for (int bits = 0; bits <= 160; ++bits) {
        for (int rep = 0; rep < 20; ++rep) {
            const NodeId prefix = NodeId::random(rng);
            const NodeId id = NodeId::random_with_prefix(prefix, bits, rng);
            INFO("prefix bits " << bits);
            CHECK(common_prefix_length(prefix, id) >= bits);
            for (int b = 0; b < bits; ++b) {
                if (id.bit(b) != prefix.bit(b)) FAIL("bit " << b << " differs");
            }
        }
    }
    // The bits after the prefix are random: some ID differs from the prefix right after it.
    for (int bits : {0, 1, 7, 8, 9, 63, 64, 65, 100, 159}) {
        const NodeId prefix = NodeId::random(rng);
        bool flipped = false;
        for (int rep = 0; rep < 64 && !flipped; ++rep) {
            flipped = NodeId::random_with_prefix(prefix, bits, rng).bit(bits) != prefix.bit(bits);
        }
        INFO("prefix bits " << bits);
        CHECK(flipped);
    }
    const NodeId p = NodeId::random(rng);
    CHECK(NodeId::random_with_prefix(p, 160, rng) == p);
    CHECK(NodeId::random_with_prefix(p, 500, rng) == p);
}

TEST_CASE("from_key is SHA-1 of the key bytes", "[node_id]") {
    CHECK(NodeId::from_key("abc").to_hex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(NodeId::from_key("").to_hex() == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(NodeId::from_key("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").to_hex() ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(NodeId::from_key(std::string(1'000'000, 'a')).to_hex() ==
          "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // Bytes, not C strings: an embedded NUL counts.
    CHECK(NodeId::from_key(std::string_view("a\0b", 3)).to_hex() ==
          "4a3dec2d1f8245280855c42db0ee4239f917fdb8");
}
