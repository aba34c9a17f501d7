#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "kad/crypto.hpp"

namespace {

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& d) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (std::uint8_t b : d) {
        s.push_back(kDigits[b >> 4]);
        s.push_back(kDigits[b & 0xf]);
    }
    return s;
}

std::vector<std::uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("sha1 matches the FIPS 180 test vectors", "[crypto]") {
    CHECK(hex(kad::sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(hex(kad::sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    // The context is reused: a second hash of the same data must not depend on the first.
    CHECK(hex(kad::sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST_CASE("sha256 matches the FIPS 180 test vectors", "[crypto]") {
    CHECK(hex(kad::sha256("abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(kad::sha256("")) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hex(kad::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("hmac_sha256 matches RFC 4231", "[crypto]") {
    SECTION("test case 1") {
        const std::vector<std::uint8_t> key(20, 0x0b);
        CHECK(hex(kad::hmac_sha256(key, "Hi There")) ==
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    }
    SECTION("test case 2: a key shorter than the output") {
        CHECK(hex(kad::hmac_sha256(bytes("Jefe"), "what do ya want for nothing?")) ==
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    SECTION("test case 6: a key longer than the block size") {
        const std::vector<std::uint8_t> key(131, 0xaa);
        CHECK(
            hex(kad::hmac_sha256(key, "Test Using Larger Than Block-Size Key - Hash Key First")) ==
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
    SECTION("an empty key and message") {
        CHECK(hex(kad::hmac_sha256({}, "")) ==
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    }
}

TEST_CASE("constant_time_equal", "[crypto]") {
    CHECK(kad::constant_time_equal("", ""));
    CHECK(kad::constant_time_equal("token", "token"));
    CHECK_FALSE(kad::constant_time_equal("token", "tokeN"));
    CHECK_FALSE(kad::constant_time_equal("token", "Token"));
    CHECK_FALSE(kad::constant_time_equal("token", "toke"));
    CHECK_FALSE(kad::constant_time_equal("toke", "token"));
    CHECK_FALSE(kad::constant_time_equal("", "x"));
    // Bytes, not C strings: what follows a NUL counts.
    CHECK_FALSE(kad::constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
    CHECK(kad::constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
}
