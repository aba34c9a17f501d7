// LAN discovery messages: encoding, decoding, signatures.

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "kad/discovery.hpp"

using namespace kad;
using namespace kad::test;
using Kind = Discovery::Kind;

namespace {

Discovery::Message message(Kind kind) {
    Discovery::Message m;
    m.kind = kind;
    m.id = id_from(1);
    m.network = "lab";
    m.port = 4000;
    m.interval_ms = 5000;
    m.version = "KN01";
    return m;
}

}  // namespace

TEST_CASE("discovery messages round-trip, signed or not", "[discovery]") {
    for (Kind kind : {Kind::Announce, Kind::Solicit, Kind::Leave}) {
        for (std::string key : {"", "secret key"}) {
            const auto m = message(kind);
            const std::string wire = Discovery::encode(m, key);
            // Canonical bencode: the generic encoder writes the same bytes.
            auto value = bencode::decode_value(wire);
            REQUIRE(value);
            CHECK(bencode::encode(*value) == wire);
            auto back = Discovery::decode(wire, key);
            REQUIRE(back);
            CHECK(back->kind == kind);
            CHECK(back->id == m.id);
            CHECK(back->network == "lab");
            CHECK(back->signed_ == !key.empty());
            if (kind != Kind::Solicit) CHECK(back->port == 4000);
            if (kind == Kind::Announce) CHECK(back->interval_ms == 5000);
        }
    }
}

TEST_CASE("with a key, unsigned and wrongly signed messages are refused", "[discovery]") {
    const auto m = message(Kind::Announce);
    using Why = Discovery::DecodeError::Kind;
    CHECK(Discovery::decode(Discovery::encode(m, ""), "k1").error().kind == Why::Unsigned);
    CHECK(Discovery::decode(Discovery::encode(m, ""), "k1").error().message() == "unsigned");
    CHECK(Discovery::decode(Discovery::encode(m, "k2"), "k1").error().kind == Why::BadSignature);
    CHECK(Discovery::decode(Discovery::encode(m, "k2"), "k1").error().message() == "bad signature");
    // Any change to a signed message breaks the signature.
    std::string wire = Discovery::encode(m, "k1");
    const auto at = wire.find("lab");
    REQUIRE(at != std::string::npos);
    wire[at] = 'x';
    CHECK(Discovery::decode(wire, "k1").error().kind == Why::BadSignature);
    // Without a key, a signed message is still read.
    CHECK(Discovery::decode(Discovery::encode(m, "k1"), ""));
}

TEST_CASE("malformed discovery messages are refused with a reason", "[discovery]") {
    const std::string id(20, 'a');
    const std::vector<std::string> bad = {
        "",
        "garbage",
        "le",
        "d1:i20:" + id + "1:n3:lab1:y1:ae",                         // announce without p and t
        "d1:i20:" + id + "1:n3:lab1:pi0e1:ti5e1:y1:ae",             // port 0
        "d1:i20:" + id + "1:n3:lab1:pi80e1:ti0e1:y1:ae",            // interval 0
        "d1:i20:" + id + "1:n3:lab1:y1:qe",                         // unknown kind
        "d1:i3:abc1:n3:lab1:y1:se",                                 // short id
        "d1:n3:lab1:y1:se",                                         // no id
        "d1:i20:" + id + "1:n3:lab1:y1:s" + std::string(600, 'e'),  // too large
    };
    for (const auto& b : bad) {
        auto r = Discovery::decode(b, "");
        CHECK_FALSE(r);
        if (!r) CHECK(r.error().kind == Discovery::DecodeError::Kind::Malformed);
        if (!r) CHECK(r.error().message().rfind("malformed: ", 0) == 0);
    }
}
