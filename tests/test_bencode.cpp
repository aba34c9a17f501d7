#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kad/bencode.hpp"

namespace bencode = kad::bencode;
using bencode::Errc;
using bencode::Value;

namespace {

// Decodes and returns the error; fails the test if the input decodes.
bencode::DecodeError reject(std::string_view input, const bencode::Limits& limits = {}) {
    bencode::Document doc;
    auto root = doc.decode(input, limits);
    INFO("input: " << std::string(input));
    REQUIRE_FALSE(root.has_value());
    CHECK(doc.element_count() == 0);  // a failed decode leaves the document empty
    return root.error();
}

Errc reject_code(std::string_view input, const bencode::Limits& limits = {}) {
    return reject(input, limits).code;
}

// Decodes, then encodes what was decoded.
std::string reencode(std::string_view input, const bencode::Limits& limits = {}) {
    bencode::Document doc;
    auto root = doc.decode(input, limits);
    INFO("input: " << std::string(input));
    if (!root) FAIL("decode failed: " << root.error().message());
    return bencode::encode(bencode::to_value(*root));
}

std::string nested(char open, int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += open == 'l' ? "l" : "d1:a";
    s += "i0e";
    for (int i = 0; i < depth; ++i) s += 'e';
    return s;
}

// Valid documents of every shape, used for round trips and the prefix test.
const std::vector<std::string>& valid_inputs() {
    static const std::vector<std::string> inputs = {
        "i0e",
        "i42e",
        "i-42e",
        "i9223372036854775807e",
        "i-9223372036854775808e",
        "0:",
        "4:spam",
        std::string("3:\0\xff\x01", 5),
        "le",
        "de",
        "li1e4:spamlee",
        "d3:bar4:spam3:fooi42ee",
        "d0:i1e1:ai2e2:aai3e1:bi4ee",  // the empty key sorts first; "a" before "aa"
        "d1:ad1:bl1:ci-1edeeee",
        std::string("d1:ai1e1:\x80i2ee", 14),  // keys compare as unsigned bytes
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        nested('l', 16),
        nested('d', 15),
    };
    return inputs;
}

}  // namespace

TEST_CASE("bencode: decode then encode reproduces every valid input", "[bencode]") {
    for (const auto& input : valid_inputs()) {
        CHECK(reencode(input) == input);
        auto v = bencode::decode_value(input);
        REQUIRE(v.has_value());
        CHECK(bencode::encode(*v) == input);
    }
}

TEST_CASE("bencode: decoded values", "[bencode]") {
    bencode::Document doc;
    const std::string input = "d1:ai-7e1:bli1e2:xye1:cd1:di0eee";
    auto root = doc.decode(input);
    REQUIRE(root.has_value());
    CHECK(root->is_dict());
    CHECK(root->size() == 3);
    CHECK(doc.element_count() == 11);

    bencode::View a, b, c, d, missing;
    REQUIRE(root->find("a", a));
    CHECK(a.is_int());
    CHECK(a.as_int() == -7);
    CHECK(a.as_string().empty());  // not a string
    REQUIRE(root->find("b", b));
    CHECK(b.is_list());
    CHECK(b.size() == 2);
    CHECK(b.at(0).as_int() == 1);
    CHECK(b.at(1).as_string() == "xy");
    CHECK(b.at(1).as_int() == 0);  // not an integer
    REQUIRE(root->find("c", c));
    REQUIRE(c.find("d", d));
    CHECK(d.as_int() == 0);
    CHECK_FALSE(root->find("d", missing));  // only at the top level
    CHECK_FALSE(root->find("", missing));
    CHECK_FALSE(root->find("zz", missing));
    CHECK_FALSE(a.find("a", missing));  // not a dict

    std::vector<std::string> keys;
    root->for_each_pair([&](std::string_view k, bencode::View) { keys.emplace_back(k); });
    CHECK(keys == std::vector<std::string>{"a", "b", "c"});
    std::vector<std::int64_t> ints;
    b.for_each([&](bencode::View v) { ints.push_back(v.as_int()); });
    CHECK(ints == std::vector<std::int64_t>{1, 0});

    // Strings point into the input: no copy.
    CHECK(b.at(1).as_string().data() == input.data() + input.find("xy"));

    // The document is reusable.
    auto again = doc.decode("i5e");
    REQUIRE(again.has_value());
    CHECK(again->as_int() == 5);
    CHECK(doc.element_count() == 1);
}

TEST_CASE("bencode: encode(Value) is canonical", "[bencode]") {
    bencode::Dict d;
    d["zeta"] = 1;
    d["alpha"] = "x";
    d["mid"] = bencode::List{Value(-3), Value("ab"), Value(bencode::Dict{})};
    d["\x80"] = 0;
    d[""] = bencode::List{};
    d["alph"] = std::int64_t{1} << 40;
    CHECK(bencode::encode(Value(d)) ==
          "d0:le4:alphi1099511627776e5:alpha1:x3:midli-3e2:abdee4:zetai1e1:\x80i0ee");
    CHECK(bencode::encode(Value(0)) == "i0e");
    CHECK(bencode::encode(Value(std::numeric_limits<std::int64_t>::min())) ==
          "i-9223372036854775808e");
    CHECK(bencode::encode(Value(std::string_view("a\0b", 3))) == std::string("3:a\0b", 5));

    std::string out = "prefix";
    bencode::encode_to(out, Value("s"));
    CHECK(out == "prefix1:s");
    out.clear();
    bencode::append_int(out, -12);
    bencode::append_string(out, "");
    CHECK(out == "i-12e0:");

    // What encode() writes, decode() accepts and reads back as the same value.
    auto back = bencode::decode_value(bencode::encode(Value(d)));
    REQUIRE(back.has_value());
    CHECK(*back == Value(d));
}

TEST_CASE("bencode: integer limits", "[bencode]") {
    auto max = bencode::decode_value("i9223372036854775807e");
    REQUIRE(max.has_value());
    CHECK(max->as_int() == std::numeric_limits<std::int64_t>::max());
    auto min = bencode::decode_value("i-9223372036854775808e");
    REQUIRE(min.has_value());
    CHECK(min->as_int() == std::numeric_limits<std::int64_t>::min());

    CHECK(reject_code("i9223372036854775808e") == Errc::IntegerOverflow);
    CHECK(reject_code("i-9223372036854775809e") == Errc::IntegerOverflow);
    CHECK(reject_code("i18446744073709551616e") == Errc::IntegerOverflow);
    CHECK(reject_code("i99999999999999999999999999e") == Errc::IntegerOverflow);
    CHECK(reject_code("li1ei9223372036854775808ee") == Errc::IntegerOverflow);
}

TEST_CASE("bencode: every rejection has its own code", "[bencode]") {
    SECTION("Truncated") {
        for (std::string_view s :
             {"", "i", "i-", "i12", "l", "li1e", "d", "d1:a", "d1:ai1e", "lli1ee", "4", "12"}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::Truncated);
        }
    }
    SECTION("TrailingBytes") {
        for (std::string_view s : {"i1ei2e", "4:spamx", "lee", "dee", "0:0:", "i0e "}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::TrailingBytes);
        }
        CHECK(reject("4:spamx").offset == 6);
    }
    SECTION("LeadingZero") {
        for (std::string_view s : {"i03e", "i00e", "i-03e", "03:abc", "00:", "l01:ae"}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::LeadingZero);
        }
    }
    SECTION("NegativeZero") {
        CHECK(reject_code("i-0e") == Errc::NegativeZero);
        CHECK(reject_code("li-0ee") == Errc::NegativeZero);
    }
    SECTION("BadInteger") {
        for (std::string_view s :
             {"ie", "i-e", "i1x", "i--1e", "i+1e", "i 1e", "i1 e", "i1.5e", "i0x1e"}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::BadInteger);
        }
        CHECK(reject("i1x").offset == 2);
    }
    SECTION("IntegerOverflow") {
        CHECK(reject_code("i9223372036854775808e") == Errc::IntegerOverflow);
    }
    SECTION("StringPastEnd") {
        for (std::string_view s : {"5:abc", "1:", "l10:abce", "4294967295:x", "4294967296:x",
                                   "99999999999999999999999:x"}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::StringPastEnd);
        }
        CHECK(reject("l5:abce").offset == 1);
    }
    SECTION("UnsortedKeys") {
        CHECK(reject_code("d1:bi1e1:ai2ee") == Errc::UnsortedKeys);
        CHECK(reject_code("d2:aai1e1:ai2ee") == Errc::UnsortedKeys);  // a prefix sorts first
        CHECK(reject_code(std::string("d1:\x80i1e1:ai2ee", 14)) == Errc::UnsortedKeys);
        CHECK(reject("d1:bi1e1:ai2ee").offset == 7);
    }
    SECTION("DuplicateKey") {
        CHECK(reject_code("d1:ai1e1:ai2ee") == Errc::DuplicateKey);
        CHECK(reject_code("d0:i1e0:i2ee") == Errc::DuplicateKey);
        CHECK(reject_code("d1:ai1e1:bi2e1:bi3ee") == Errc::DuplicateKey);
    }
    SECTION("KeyNotString") {
        for (std::string_view s : {"di1ei2ee", "dlei1ee", "ddei1ee", "d1:ai1ei2ei3ee"}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::KeyNotString);
        }
        CHECK(reject("d1:ai1ei2ei3ee").offset == 7);
    }
    SECTION("TooDeep") {
        const bencode::Limits limits;
        CHECK(reencode(nested('l', limits.max_depth)) == nested('l', limits.max_depth));
        CHECK(reject_code(nested('l', limits.max_depth + 1)) == Errc::TooDeep);
        CHECK(reencode(nested('d', limits.max_depth)) == nested('d', limits.max_depth));
        CHECK(reject_code(nested('d', limits.max_depth + 1)) == Errc::TooDeep);
        CHECK(reject_code(std::string(100'000, 'l')) == Errc::TooDeep);  // no stack overflow

        const bencode::Limits shallow{2, 1024};
        CHECK(reencode("llee", shallow) == "llee");
        CHECK(reject_code("llleee", shallow) == Errc::TooDeep);
        CHECK(reject("llleee", shallow).offset == 2);
    }
    SECTION("TooManyElements") {
        // Every value counts, including the containers and the keys.
        const bencode::Limits three{16, 3};
        CHECK(reencode("li1ei2ee", three) == "li1ei2ee");
        CHECK(reencode("d1:ai1ee", three) == "d1:ai1ee");
        CHECK(reject_code("li1ei2ei3ee", three) == Errc::TooManyElements);
        CHECK(reject_code("d1:ai1e1:bi2ee", three) == Errc::TooManyElements);

        const bencode::Limits defaults;
        std::string many = "l";
        for (std::size_t i = 0; i + 1 < defaults.max_elements; ++i) many += "i0e";
        CHECK(reencode(many + "e") == many + "e");
        CHECK(reject_code(many + "i0ee") == Errc::TooManyElements);
    }
    SECTION("UnexpectedByte") {
        for (std::string_view s : {"x", "e", "-1:a", "3x", "3-abc", "lxe", " i1e", "d1:ax1:be"}) {
            INFO(std::string(s));
            CHECK(reject_code(s) == Errc::UnexpectedByte);
        }
        CHECK(reject("lxe").offset == 1);
    }
}

TEST_CASE("bencode: error messages name the problem and the byte", "[bencode]") {
    CHECK(reject("i03e").message() == "leading zero in a number at byte 1");
    for (int e = 0; e <= static_cast<int>(Errc::UnexpectedByte); ++e) {
        CHECK(std::string(bencode::to_string(static_cast<Errc>(e))) != "unknown error");
    }
}

TEST_CASE("bencode: no proper prefix of a valid document decodes", "[bencode]") {
    for (const auto& input : valid_inputs()) {
        bencode::Document doc;
        for (std::size_t len = 0; len < input.size(); ++len) {
            // A copy of exactly len bytes, so that AddressSanitizer catches a read past it.
            const std::string prefix = input.substr(0, len);
            auto root = doc.decode(prefix);
            INFO("input " << input << ", prefix length " << len);
            CHECK_FALSE(root.has_value());
        }
    }
}

TEST_CASE("bencode: compare_bytes is the byte order of unsigned bytes", "[bencode]") {
    const std::vector<std::string> keys = {"",
                                           "a",
                                           "aa",
                                           "ab",
                                           "b",
                                           "id",
                                           "ie",
                                           "target",
                                           "t",
                                           "v",
                                           "y",
                                           "z",
                                           std::string("\x7f", 1),
                                           std::string("\x80", 1),
                                           std::string("\xff", 1),
                                           std::string("a\xff", 2),
                                           std::string("a\0", 2)};
    for (const auto& a : keys) {
        for (const auto& b : keys) {
            INFO(a << " vs " << b);
            const int expected = a.compare(b);  // char_traits<char>: as unsigned bytes
            const int got = bencode::compare_bytes(a, b);
            CHECK((got < 0) == (expected < 0));
            CHECK((got == 0) == (expected == 0));
        }
    }
}

TEST_CASE("bencode: find_sorted finds what find finds, in one walk", "[bencode]") {
    // Every subset of a universe of keys as the keys wanted, against dictionaries holding other
    // subsets: the merge must agree with a find() of each key, whatever lies between.
    const std::vector<std::string> universe = {"",
                                               "a",
                                               "aa",
                                               "ab",
                                               "id",
                                               "ip",
                                               "q",
                                               "r",
                                               "ro",
                                               "target",
                                               "tok",
                                               "v",
                                               "y",
                                               std::string("\x80", 1),
                                               std::string("\xff\xff", 2)};
    REQUIRE(std::is_sorted(universe.begin(), universe.end()));
    bencode::Document doc;
    std::uint32_t seed = 12345;
    auto next = [&seed] {
        seed = seed * 1103515245u + 12345u;
        return seed >> 8;
    };
    for (int round = 0; round < 300; ++round) {
        bencode::Dict d;
        for (std::size_t i = 0; i < universe.size(); ++i) {
            if (next() % 2) d.emplace(universe[i], Value(static_cast<std::int64_t>(i)));
        }
        const std::string bytes = bencode::encode(Value(d));
        auto root = doc.decode(bytes);
        REQUIRE(root.has_value());
        std::vector<std::string_view> wanted;
        for (const auto& k : universe) {
            if (next() % 3 == 0) wanted.push_back(k);
        }
        std::vector<int> found(wanted.size(), -1);
        std::size_t last = 0;
        bool in_order = true;
        root->find_sorted(
            wanted.size(), [&](std::size_t i) { return wanted[i]; },
            [&](std::size_t i, bencode::View v) {
                if (i < last) in_order = false;
                last = i;
                found[i] = static_cast<int>(v.as_int());
            });
        INFO("dictionary " << bytes);
        CHECK(in_order);
        for (std::size_t i = 0; i < wanted.size(); ++i) {
            bencode::View v;
            const bool present = root->find(wanted[i], v);
            INFO("key '" << std::string(wanted[i]) << "'");
            CHECK(present == (found[i] >= 0));
            if (present) CHECK(v.as_int() == found[i]);
        }
    }

    SECTION("not a dictionary, or nothing wanted") {
        int calls = 0;
        const std::array<std::string_view, 1> one{"a"};
        auto count = [&](std::size_t, bencode::View) { ++calls; };
        for (std::string_view s : {"l1:ae", "1:a", "i1e", "de"}) {
            auto root = doc.decode(s);
            REQUIRE(root.has_value());
            root->find_sorted(
                1, [&](std::size_t i) { return one[i]; }, count);
        }
        auto root = doc.decode("d1:ai1ee");
        REQUIRE(root.has_value());
        root->find_sorted(
            0, [&](std::size_t i) { return one[i]; }, count);
        CHECK(calls == 0);
        root->find_sorted(
            1, [&](std::size_t i) { return one[i]; }, count);
        CHECK(calls == 1);
    }
    SECTION("values of every kind, and a value that is itself a dictionary") {
        auto root = doc.decode("d1:ad1:bi1ee1:bli2ee1:c3:xyz1:di-4ee");
        REQUIRE(root.has_value());
        const std::array<std::string_view, 4> keys{"a", "b", "c", "d"};
        std::vector<std::string> raws;
        root->find_sorted(
            keys.size(), [&](std::size_t i) { return keys[i]; },
            [&](std::size_t, bencode::View v) { raws.emplace_back(v.raw()); });
        CHECK(raws == std::vector<std::string>{"d1:bi1ee", "li2ee", "3:xyz", "i-4e"});
    }
}

TEST_CASE("bencode: string lengths of every width", "[bencode]") {
    // Lengths of one and two digits take a short path in the parser; longer ones the general one.
    for (std::size_t len : {0, 1, 9, 10, 42, 99, 100, 999, 1000, 12345}) {
        const std::string body(len, 'x');
        const std::string doc = std::to_string(len) + ":" + body;
        INFO("length " << len);
        CHECK(reencode(doc) == doc);
        CHECK(reencode("d" + doc + "i1ee") == "d" + doc + "i1ee");  // as a key too
        CHECK(reject_code(std::to_string(len + 1) + ":" + body) == Errc::StringPastEnd);
        CHECK(reject(std::to_string(len + 1) + ":" + body).offset == 0);
    }
    CHECK(reject_code("01:a") == Errc::LeadingZero);
    CHECK(reject("01:a").offset == 0);
    CHECK(reject_code("00:") == Errc::LeadingZero);
    CHECK(reject_code("012:abcdefghijkl") == Errc::LeadingZero);
    CHECK(reject_code("d01:ai1ee") == Errc::LeadingZero);
    CHECK(reject("d01:ai1ee").offset == 1);
    CHECK(reject_code("1") == Errc::Truncated);
    CHECK(reject("12").offset == 2);
    CHECK(reject_code("1x") == Errc::UnexpectedByte);
    CHECK(reject("1x").offset == 1);
    CHECK(reject_code("12x") == Errc::UnexpectedByte);
    CHECK(reject("12x").offset == 2);
    CHECK(reject_code("1:") == Errc::StringPastEnd);
    CHECK(reject_code("12:a") == Errc::StringPastEnd);
    // Nine digits never overflow; from the tenth each digit is checked.
    CHECK(reject_code("999999999:x") == Errc::StringPastEnd);
    CHECK(reject_code("4294967295:x") == Errc::StringPastEnd);
    CHECK(reject_code("4294967296:x") == Errc::StringPastEnd);
    CHECK(reject("l99999999999999999999:xe").offset == 1);
}

TEST_CASE("bencode: integers of every width", "[bencode]") {
    for (std::string_view s : {"i7e", "i-7e", "i123456789e", "i1234567890e", "i-1234567890e",
                               "i123456789012345678e", "i1234567890123456789e"}) {
        INFO(std::string(s));
        CHECK(reencode(s) == s);
    }
    CHECK(reject_code("i12345678901234567890e") == Errc::IntegerOverflow);
    CHECK(reject("li12345678901234567890ee").offset == 2);  // the first digit
    CHECK(reject("i-12345678901234567890e").offset == 2);
    CHECK(reject_code("i1234567890123") == Errc::Truncated);
    CHECK(reject_code("i12345678901234567890") == Errc::IntegerOverflow);  // before the end
    CHECK(reject_code("i0123456789e") == Errc::LeadingZero);
    CHECK(reject_code("i123456789x") == Errc::BadInteger);
    CHECK(reject("i123456789x").offset == 10);
}

TEST_CASE("bencode: a document reused for inputs large and small", "[bencode]") {
    bencode::Document doc;
    std::string big = "l";
    for (int i = 0; i < 500; ++i) big += "i" + std::to_string(i) + "e";
    big += "e";
    for (int round = 0; round < 2; ++round) {
        auto root = doc.decode(big);
        REQUIRE(root.has_value());
        CHECK(doc.element_count() == 501);
        CHECK(root->size() == 500);
        CHECK(root->at(499).as_int() == 499);

        root = doc.decode("d1:a1:be");
        REQUIRE(root.has_value());
        CHECK(doc.element_count() == 3);
        bencode::View v;
        REQUIRE(root->find("a", v));
        CHECK(v.as_string() == "b");
        CHECK_FALSE(root->find("b", v));

        CHECK_FALSE(doc.decode("d1:a1:b").has_value());
        CHECK(doc.element_count() == 0);

        // The limit on elements holds whatever room the document has kept.
        const bencode::Limits two{16, 2};
        CHECK_FALSE(doc.decode("li1ei2ee", two).has_value());
        CHECK(doc.decode("li1ee", two).has_value());
    }
}
