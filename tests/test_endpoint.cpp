#include <catch2/catch.hpp>
#include <string>

#include "kad/endpoint.hpp"

using kad::Endpoint;

namespace {

Endpoint parse(std::string_view text) {
    auto ep = Endpoint::parse(text);
    INFO(text);
    REQUIRE(ep.has_value());
    return *ep;
}

std::string parse_error(std::string_view text) {
    auto ep = Endpoint::parse(text);
    INFO(text);
    REQUIRE_FALSE(ep.has_value());
    return ep.error();
}

}  // namespace

TEST_CASE("Endpoint parses and prints IPv4", "[endpoint]") {
    const Endpoint ep = parse("1.2.3.4:5678");
    CHECK(ep.is_v4());
    CHECK_FALSE(ep.is_v6());
    CHECK(ep.port() == 5678);
    CHECK(ep.address_raw() == std::string_view("\x01\x02\x03\x04", 4));
    CHECK(ep.address_string() == "1.2.3.4");
    CHECK(ep.to_string() == "1.2.3.4:5678");
    CHECK(ep == Endpoint::v4({1, 2, 3, 4}, 5678));

    CHECK(parse("0.0.0.0:0").to_string() == "0.0.0.0:0");
    CHECK(parse("255.255.255.255:65535").port() == 65535);
    CHECK(parse("255.255.255.255:65535").to_string() == "255.255.255.255:65535");
}

TEST_CASE("Endpoint parses and prints IPv6 in brackets", "[endpoint]") {
    const Endpoint ep = parse("[2001:db8::1]:6881");
    CHECK(ep.is_v6());
    CHECK(ep.port() == 6881);
    CHECK(ep.address_raw().size() == 16);
    CHECK(ep.address_bytes()[0] == 0x20);
    CHECK(ep.address_bytes()[1] == 0x01);
    CHECK(ep.address_bytes()[15] == 0x01);
    CHECK(ep.to_string() == "[2001:db8::1]:6881");
    CHECK(parse("[::1]:1").to_string() == "[::1]:1");
    CHECK(parse("[::]:80").is_unspecified());
    // Printing is canonical (RFC 5952): upper case and long forms are shortened.
    CHECK(parse("[2001:0DB8:0000:0000:0000:0000:0000:0001]:7").to_string() == "[2001:db8::1]:7");
    // An IPv4-mapped IPv6 address stays IPv6 until normalized().
    CHECK(parse("[::ffff:1.2.3.4]:9").is_v6());
}

TEST_CASE("Endpoint::parse round trips through to_string", "[endpoint]") {
    for (std::string_view text : {"10.0.0.1:1", "127.0.0.1:65535", "[fe80::1:2]:3",
                                  "[ff02::4b44]:7475", "[::ffff:1.2.3.4]:9"}) {
        CHECK(parse(text).to_string() == text);
    }
}

TEST_CASE("Endpoint::parse errors say what is wrong", "[endpoint]") {
    SECTION("missing port") {
        CHECK_THAT(parse_error("1.2.3.4"), Catch::Contains("expected IP:PORT"));
        CHECK_THAT(parse_error("1.2.3.4:"), Catch::Contains("port must be a number"));
        CHECK_THAT(parse_error("[::1]"), Catch::Contains("expected [IPv6]:PORT"));
        CHECK_THAT(parse_error("[::1]:"), Catch::Contains("port must be a number"));
        CHECK_THAT(parse_error(""), Catch::Contains("expected IP:PORT"));
    }
    SECTION("port out of range or not a number") {
        CHECK_THAT(parse_error("1.2.3.4:65536"), Catch::Contains("from 0 to 65535"));
        CHECK_THAT(parse_error("1.2.3.4:99999999999999999999"), Catch::Contains("from 0 to 65535"));
        CHECK_THAT(parse_error("[::1]:70000"), Catch::Contains("from 0 to 65535"));
        CHECK_THAT(parse_error("1.2.3.4:-1"), Catch::Contains("port must be a number"));
        CHECK_THAT(parse_error("1.2.3.4:+1"), Catch::Contains("port must be a number"));
        CHECK_THAT(parse_error("1.2.3.4:80x"), Catch::Contains("port must be a number"));
        CHECK_THAT(parse_error("1.2.3.4: 80"), Catch::Contains("port must be a number"));
    }
    SECTION("bad address") {
        CHECK_THAT(parse_error("1.2.3:80"), Catch::Contains("not an IPv4 or IPv6 address"));
        CHECK_THAT(parse_error("1.2.3.256:80"), Catch::Contains("not an IPv4 or IPv6 address"));
        CHECK_THAT(parse_error("example.com:80"), Catch::Contains("not an IPv4 or IPv6 address"));
        CHECK_THAT(parse_error(":80"), Catch::Contains("not an IPv4 or IPv6 address"));
        CHECK_THAT(parse_error("[::g]:80"), Catch::Contains("not an IPv4 or IPv6 address"));
        CHECK_THAT(parse_error("[]:80"), Catch::Contains("brackets are for IPv6"));
        CHECK_THAT(parse_error("[::1:80"), Catch::Contains("missing ']'"));
        CHECK_THAT(parse_error(std::string(100, '1') + ":80"), Catch::Contains("too long"));
        // An embedded NUL must not cut the address short.
        CHECK_THAT(parse_error(std::string_view("1.2.3.4\0x:80", 12)),
                   Catch::Contains("not an IPv4 or IPv6 address"));
    }
    SECTION("IPv6 without brackets") {
        CHECK_THAT(parse_error("::1:80"), Catch::Contains("in brackets"));
        CHECK_THAT(parse_error("2001:db8::1:6881"), Catch::Contains("in brackets"));
    }
    SECTION("brackets around IPv4") {
        CHECK_THAT(parse_error("[1.2.3.4]:80"), Catch::Contains("brackets are for IPv6"));
    }
    SECTION("the error quotes the input") {
        CHECK_THAT(parse_error("1.2.3.4:65536"), Catch::StartsWith("'1.2.3.4:65536'"));
    }
}

TEST_CASE("Endpoint::from_address takes a bare address", "[endpoint]") {
    auto v4 = Endpoint::from_address("192.168.1.2", 80);
    REQUIRE(v4.has_value());
    CHECK(*v4 == Endpoint::v4({192, 168, 1, 2}, 80));
    auto v6 = Endpoint::from_address("::1", 80);
    REQUIRE(v6.has_value());
    CHECK(v6->is_v6());
    CHECK(v6->is_loopback());
    CHECK_FALSE(Endpoint::from_address("[::1]", 80).has_value());
    CHECK_FALSE(Endpoint::from_address("", 80).has_value());
    CHECK_FALSE(Endpoint::from_address(std::string_view("::1\0", 4), 80).has_value());
}

TEST_CASE("Endpoint compact form round trips", "[endpoint]") {
    const Endpoint v4 = parse("1.2.3.4:258");
    const std::string c4 = v4.compact();
    CHECK(c4.size() == Endpoint::kCompactV4);
    CHECK(c4 == std::string("\x01\x02\x03\x04\x01\x02", 6));  // port in network byte order
    auto back4 = Endpoint::from_compact(c4);
    REQUIRE(back4.has_value());
    CHECK(*back4 == v4);

    const Endpoint v6 = parse("[2001:db8::ff]:65535");
    const std::string c6 = v6.compact();
    CHECK(c6.size() == Endpoint::kCompactV6);
    CHECK(c6.substr(0, 4) == std::string("\x20\x01\x0d\xb8", 4));
    CHECK(c6.substr(14) == std::string("\x00\xff\xff\xff", 4));
    auto back6 = Endpoint::from_compact(c6);
    REQUIRE(back6.has_value());
    CHECK(*back6 == v6);

    std::string appended = "x";
    v4.append_compact(appended);
    CHECK(appended == "x" + c4);

    for (std::size_t len : {0u, 4u, 5u, 7u, 16u, 17u, 19u, 26u}) {
        CHECK_FALSE(Endpoint::from_compact(std::string(len, '\x01')).has_value());
    }
}

TEST_CASE("assign_compact overwrites all of an endpoint, or none of it", "[endpoint]") {
    const Endpoint v4 = parse("1.2.3.4:258");
    const Endpoint v6 = parse("[2001:db8::ff]:65535");
    Endpoint e = parse("[fe80::1%7]:9");  // a scope, which a compact form never carries
    REQUIRE(e.scope_id() == 7);
    REQUIRE(e.assign_compact(v4.compact()));
    CHECK(e == v4);  // no byte of the IPv6 address, nor the scope, is left
    CHECK(e.address_bytes() == v4.address_bytes());
    REQUIRE(e.assign_compact(v6.compact()));
    CHECK(e == v6);
    REQUIRE(e.assign_compact(v4.compact()));
    CHECK(e == v4);
    for (std::size_t len : {0u, 4u, 5u, 7u, 16u, 17u, 19u, 26u}) {
        CHECK_FALSE(e.assign_compact(std::string(len, '\x01')));
        CHECK(e == v4);
    }
}

TEST_CASE("normalized() turns an IPv4-mapped IPv6 address into IPv4", "[endpoint]") {
    const Endpoint mapped = parse("[::ffff:1.2.3.4]:5");
    const Endpoint n = mapped.normalized();
    CHECK(n.is_v4());
    CHECK(n == parse("1.2.3.4:5"));
    CHECK(n.to_string() == "1.2.3.4:5");
    // Anything else is unchanged.
    CHECK(parse("[::1]:5").normalized() == parse("[::1]:5"));
    CHECK(parse("[::fffe:1.2.3.4]:5").normalized().is_v6());
    CHECK(parse("[1::ffff:1.2.3.4]:5").normalized().is_v6());
    CHECK(parse("1.2.3.4:5").normalized() == parse("1.2.3.4:5"));
}

TEST_CASE("Endpoint classification", "[endpoint]") {
    SECTION("loopback") {
        CHECK(parse("127.0.0.1:1").is_loopback());
        CHECK(parse("127.255.0.9:1").is_loopback());
        CHECK(parse("[::1]:1").is_loopback());
        CHECK_FALSE(parse("128.0.0.1:1").is_loopback());
        CHECK_FALSE(parse("[::2]:1").is_loopback());
        CHECK_FALSE(parse("[::]:1").is_loopback());
        CHECK_FALSE(parse("[1::1]:1").is_loopback());
    }
    SECTION("private") {
        for (std::string_view p :
             {"10.1.2.3:1", "172.16.0.1:1", "172.31.255.255:1", "192.168.0.1:1", "169.254.1.1:1",
              "[fc00::1]:1", "[fd12::1]:1", "[fe80::1]:1", "[febf::1]:1"}) {
            INFO(p);
            CHECK(parse(p).is_private());
        }
        for (std::string_view p :
             {"11.0.0.1:1", "172.15.255.255:1", "172.32.0.1:1", "192.169.0.1:1", "8.8.8.8:1",
              "[fe00::1]:1", "[fec0::1]:1", "[2001:db8::1]:1", "[::1]:1"}) {
            INFO(p);
            CHECK_FALSE(parse(p).is_private());
        }
    }
    SECTION("multicast and broadcast") {
        CHECK(parse("224.0.0.1:1").is_multicast());
        CHECK(parse("239.192.75.68:7475").is_multicast());
        CHECK_FALSE(parse("223.255.255.255:1").is_multicast());
        CHECK_FALSE(parse("240.0.0.1:1").is_multicast());
        CHECK(parse("[ff02::4b44]:7475").is_multicast());
        CHECK_FALSE(parse("[fe80::1]:1").is_multicast());
        CHECK(parse("255.255.255.255:1").is_broadcast());
        CHECK_FALSE(parse("255.255.255.254:1").is_broadcast());
    }
    SECTION("unusable") {
        CHECK(Endpoint().is_unusable());
        CHECK(parse("1.2.3.4:0").is_unusable());
        CHECK(parse("0.0.0.0:80").is_unusable());
        CHECK(parse("[::]:80").is_unusable());
        CHECK(parse("224.0.0.1:80").is_unusable());
        CHECK(parse("[ff02::1]:80").is_unusable());
        CHECK(parse("255.255.255.255:80").is_unusable());
        CHECK_FALSE(parse("1.2.3.4:80").is_unusable());
        CHECK_FALSE(parse("127.0.0.1:80").is_unusable());
        CHECK_FALSE(parse("[::1]:80").is_unusable());
        CHECK_FALSE(parse("192.168.1.1:80").is_unusable());
    }
    SECTION("unspecified") {
        CHECK(parse("0.0.0.0:1").is_unspecified());
        CHECK(parse("[::]:1").is_unspecified());
        CHECK_FALSE(parse("0.0.0.1:1").is_unspecified());
        CHECK_FALSE(parse("[::1]:1").is_unspecified());
    }
}

TEST_CASE("Endpoint equality and hashing tell families and ports apart", "[endpoint]") {
    const Endpoint a = parse("1.2.3.4:5");
    CHECK(a != parse("1.2.3.4:6"));
    CHECK(a != parse("1.2.3.5:5"));
    CHECK(a != parse("[::ffff:1.2.3.4]:5"));
    CHECK(std::hash<Endpoint>{}(a) == std::hash<Endpoint>{}(parse("1.2.3.4:5")));
    // 0.0.0.0:0 as IPv4 and :: port 0 as IPv6 are different endpoints.
    CHECK(Endpoint() != parse("[::]:0"));
}

TEST_CASE("link-local IPv6 endpoints carry their interface", "[endpoint]") {
    auto e = Endpoint::parse("[fe80::1%2]:4000");
    REQUIRE(e);
    CHECK(e->scope_id() == 2);
    CHECK(e->is_link_local());
    CHECK_FALSE(e->is_unusable());
    CHECK(e->to_string() == "[fe80::1%2]:4000");
    CHECK(*Endpoint::parse(e->to_string()) == *e);
    CHECK(*e != e->with_scope(3));
    // Without its interface a link-local address cannot be used.
    auto bare = Endpoint::parse("[fe80::1]:4000");
    REQUIRE(bare);
    CHECK(bare->is_unusable());
    // A zone is only for link-local addresses, and must be a number.
    CHECK_FALSE(Endpoint::parse("[::1%2]:4000"));
    CHECK_FALSE(Endpoint::parse("[fe80::1%eth0]:4000"));
    CHECK_FALSE(Endpoint::parse("[fe80::1%]:4000"));
    // The compact form has no room for it.
    CHECK(Endpoint::from_compact(e->compact())->scope_id() == 0);
    CHECK(e->with_port(5).scope_id() == 2);
}
