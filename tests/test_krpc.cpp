#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "kad/bencode.hpp"
#include "kad/krpc.hpp"

namespace krpc = kad::krpc;
namespace bencode = kad::bencode;
using bencode::Dict;
using bencode::List;
using bencode::Value;
using kad::Endpoint;
using kad::NodeId;
using krpc::DecodeFailureKind;
using krpc::Message;
using krpc::Method;

namespace {

NodeId filled(std::uint8_t b) {
    NodeId::Bytes x;
    x.fill(b);
    return NodeId(x);
}

std::string raw(std::uint8_t b, std::size_t n = NodeId::kBytes) {
    return std::string(n, static_cast<char>(b));
}

Endpoint ep(std::string_view text) {
    auto e = Endpoint::parse(text);
    REQUIRE(e.has_value());
    return *e;
}

Message query(krpc::Query q, std::string t = "aa") {
    Message m;
    m.transaction = std::move(t);
    m.body = std::move(q);
    return m;
}

Message response(krpc::Response r, std::string t = "aa") {
    Message m;
    m.transaction = std::move(t);
    m.body = std::move(r);
    return m;
}

Message decode_ok(std::string_view bytes, const krpc::Limits& limits = {}) {
    auto m = krpc::decode(bytes, limits);
    INFO("bytes: " << std::string(bytes));
    if (!m) FAIL("decode failed: " << m.error().reason);
    return *m;
}

krpc::DecodeFailure decode_fail(std::string_view bytes, const krpc::Limits& limits = {}) {
    auto m = krpc::decode(bytes, limits);
    INFO("bytes: " << std::string(bytes));
    REQUIRE_FALSE(m.has_value());
    return m.error();
}

// Expects a Malformed failure (drop without answering).
void check_malformed(const Value& v, std::string_view reason_part) {
    const auto f = decode_fail(bencode::encode(v));
    CHECK(f.kind == DecodeFailureKind::Malformed);
    CHECK(f.transaction.empty());
    CHECK_THAT(f.reason, Catch::Contains(std::string(reason_part)));
}

// Expects a BadQuery failure carrying transaction "aa" and a reason naming the key.
void check_bad_query(const Value& v, std::string_view reason_part) {
    const auto f = decode_fail(bencode::encode(v));
    CHECK(f.kind == DecodeFailureKind::BadQuery);
    CHECK(f.transaction == "aa");
    CHECK_THAT(f.reason, Catch::Contains(std::string(reason_part)));
}

Dict query_dict(std::string method, Dict args) {
    return Dict{{"a", std::move(args)}, {"q", std::move(method)}, {"t", "aa"}, {"y", "q"}};
}

Dict find_args() {
    return Dict{{"id", raw(1)}, {"target", raw(2)}};
}

Dict store_args() {
    return Dict{{"id", raw(1)},   {"k", "key"},
                {"seq", 3},       {"target", std::string(NodeId::from_key("key").raw())},
                {"token", "tok"}, {"v", "value"}};
}

Dict response_dict(Dict results) {
    return Dict{{"r", std::move(results)}, {"t", "aa"}, {"y", "r"}};
}

std::string compact_v4(const NodeId& id, std::string_view endpoint) {
    return std::string(id.raw()) + ep(endpoint).compact();
}

// The messages of every kind, with the generic bencode value each must encode as.
struct Sample {
    std::string name;
    Message message;
    Value generic;
};

std::vector<Sample> samples() {
    std::vector<Sample> out;
    const NodeId id = filled(0x01);
    const NodeId target = filled(0x02);
    const NodeId n1 = filled(0x03);
    const NodeId n2 = filled(0x04);
    const NodeId n3 = filled(0x05);

    out.push_back({"ping query", query({id, krpc::PingArgs{}}),
                   query_dict("ping", Dict{{"id", std::string(id.raw())}})});

    out.push_back({"find_node query", query({id, krpc::FindNodeArgs{target, std::nullopt}}),
                   query_dict("find_node", find_args())});
    {
        Dict a = find_args();
        a["want"] = List{Value("n4"), Value("n6")};
        out.push_back({"find_node query with want n4 n6",
                       query({id, krpc::FindNodeArgs{target, krpc::Want{true, true}}}),
                       query_dict("find_node", a)});
    }
    {
        Dict a = find_args();
        a["want"] = List{Value("n6")};
        out.push_back({"find_value query with want n6",
                       query({id, krpc::FindValueArgs{target, krpc::Want{false, true}}}),
                       query_dict("find_value", a)});
    }
    {
        Dict a = find_args();
        a["want"] = List{Value("n4")};
        out.push_back({"find_value query with want n4",
                       query({id, krpc::FindValueArgs{target, krpc::Want{true, false}}}),
                       query_dict("find_value", a)});
    }
    out.push_back({"find_value query", query({id, krpc::FindValueArgs{target, std::nullopt}}),
                   query_dict("find_value", find_args())});
    {
        krpc::StoreArgs s;
        s.target = NodeId::from_key("key");
        s.token = "tok";
        s.key = "key";
        s.value = "value";
        s.seq = 3;
        out.push_back({"store query", query({id, s}), query_dict("store", store_args())});
        s.ttl = 3600;
        Dict a = store_args();
        a["ttl"] = 3600;
        out.push_back({"store query with ttl", query({id, s}), query_dict("store", a)});
    }
    {
        krpc::ListenArgs l;
        l.target = target;
        l.token = "tok";
        l.tag = "tg";
        Dict a{{"id", std::string(id.raw())},
               {"tag", "tg"},
               {"target", std::string(target.raw())},
               {"token", "tok"}};
        out.push_back({"listen query", query({id, l}), query_dict("listen", a)});
        l.ttl = 90;
        l.seq = 3;
        a["ttl"] = 90;
        a["seq"] = 3;
        out.push_back({"listen query with seq and ttl", query({id, l}), query_dict("listen", a)});
    }
    {
        krpc::NotifyArgs n;
        n.target = NodeId::from_key("key");
        n.key = "key";
        n.value = "value";
        n.seq = 4;
        n.tag = "tg";
        out.push_back({"notify query", query({id, n}),
                       query_dict("notify", Dict{{"id", std::string(id.raw())},
                                                 {"k", "key"},
                                                 {"seq", 4},
                                                 {"tag", "tg"},
                                                 {"target", std::string(n.target.raw())},
                                                 {"v", "value"}})});
    }
    {
        krpc::Query q{id, krpc::UnknownArgs{"vote"}};
        out.push_back(
            {"unknown query", query(q), query_dict("vote", Dict{{"id", std::string(id.raw())}})});
    }

    out.push_back({"ping response", response({id, {}, std::nullopt, std::nullopt}),
                   response_dict(Dict{{"id", std::string(id.raw())}})});
    {
        krpc::Response r{id, {{n1, ep("1.2.3.4:6881")}, {n2, ep("10.0.0.1:65535")}}, {}, {}};
        Message m = response(r);
        m.requester = ep("192.0.2.7:4000");
        Dict d = response_dict(
            Dict{{"id", std::string(id.raw())},
                 {"nodes", compact_v4(n1, "1.2.3.4:6881") + compact_v4(n2, "10.0.0.1:65535")}});
        d["ip"] = ep("192.0.2.7:4000").compact();
        out.push_back({"find_node response with nodes and ip", m, d});
    }
    {
        krpc::Response r{id, {{n1, ep("1.2.3.4:6881")}, {n3, ep("[2001:db8::1]:6881")}}, {}, {}};
        Message m = response(r);
        m.requester = ep("[2001:db8::7]:4000");
        Dict d = response_dict(
            Dict{{"id", std::string(id.raw())},
                 {"nodes", compact_v4(n1, "1.2.3.4:6881")},
                 {"nodes6", std::string(n3.raw()) + ep("[2001:db8::1]:6881").compact()}});
        d["ip"] = ep("[2001:db8::7]:4000").compact();
        out.push_back({"find_node response with nodes and nodes6", m, d});
    }
    {
        krpc::Response r{id, {{n1, ep("1.2.3.4:6881")}}, std::string("tok"), std::nullopt};
        Dict d = response_dict(Dict{{"id", std::string(id.raw())},
                                    {"nodes", compact_v4(n1, "1.2.3.4:6881")},
                                    {"token", "tok"}});
        out.push_back({"find_value response with nodes and token", response(r), d});
    }
    {
        krpc::Response r{id, {}, std::string("tok"), krpc::Item{"key", "value", 7}};
        Dict d = response_dict(Dict{{"id", std::string(id.raw())},
                                    {"k", "key"},
                                    {"seq", 7},
                                    {"token", "tok"},
                                    {"v", "value"}});
        out.push_back({"find_value response with item", response(r), d});
    }
    {
        Message m;
        m.transaction = "aa";
        m.body = krpc::Error{krpc::kProtocolError, "bad token"};
        out.push_back({"error 203", m,
                       Dict{{"e", List{Value(203), Value("bad token")}}, {"t", "aa"}, {"y", "e"}}});
        m.body = krpc::Error{krpc::kSeqTooLow, "sequence number less than current"};
        m.version = "KD01";
        out.push_back({"error 302 with version", m,
                       Dict{{"e", List{Value(302), Value("sequence number less than current")}},
                            {"t", "aa"},
                            {"v", "KD01"},
                            {"y", "e"}}});
    }
    {
        Message m = query({id, krpc::PingArgs{}}, std::string(krpc::kMaxTransactionId, 't'));
        m.version = std::string(krpc::kMaxVersionSize, 'v');
        out.push_back({"longest transaction id and version", m,
                       Dict{{"a", Dict{{"id", std::string(id.raw())}}},
                            {"q", "ping"},
                            {"t", std::string(krpc::kMaxTransactionId, 't')},
                            {"v", std::string(krpc::kMaxVersionSize, 'v')},
                            {"y", "q"}}});
    }
    {
        // Binary transaction IDs and values are bytes, not text.
        krpc::StoreArgs s;
        s.key = std::string("k\0\xff", 3);
        s.target = NodeId::from_key(s.key);
        s.token = std::string("\0\0", 2);
        s.value = "";
        s.seq = 0;
        Message m = query({id, s}, std::string("\0\x01", 2));
        out.push_back({"store query with binary data", m,
                       Dict{{"a", Dict{{"id", std::string(id.raw())},
                                       {"k", s.key},
                                       {"seq", 0},
                                       {"target", std::string(s.target.raw())},
                                       {"token", s.token},
                                       {"v", ""}}},
                            {"q", "store"},
                            {"t", std::string("\0\x01", 2)},
                            {"y", "q"}}});
    }
    return out;
}

}  // namespace

TEST_CASE("KRPC: every message kind survives encode then decode", "[krpc]") {
    for (const auto& s : samples()) {
        INFO(s.name);
        const std::string bytes = krpc::encode(s.message);
        const Message back = decode_ok(bytes);
        CHECK(back == s.message);
        CHECK(krpc::encode(back) == bytes);
    }
}

TEST_CASE("KRPC: encode equals the canonical bencode of the same message", "[krpc]") {
    for (const auto& s : samples()) {
        INFO(s.name);
        const std::string bytes = krpc::encode(s.message);
        CHECK(bytes == bencode::encode(s.generic));
        // And the strict decoder (which refuses unsorted keys) accepts it as it is.
        auto v = bencode::decode_value(bytes);
        REQUIRE(v.has_value());
        CHECK(bencode::encode(*v) == bytes);
    }
}

TEST_CASE("KRPC: encode_to appends", "[krpc]") {
    const auto s = samples().front();
    std::string out = "xyz";
    krpc::encode_to(out, s.message);
    CHECK(out == "xyz" + krpc::encode(s.message));
}

TEST_CASE("KRPC: decoded queries expose their method and arguments", "[krpc]") {
    const Message m = decode_ok(bencode::encode(query_dict("store", store_args())));
    CHECK(m.transaction == "aa");
    CHECK_FALSE(m.version.has_value());
    const auto* q = std::get_if<krpc::Query>(&m.body);
    REQUIRE(q != nullptr);
    CHECK(q->method() == Method::Store);
    CHECK(q->id == filled(0x01));
    const auto& s = std::get<krpc::StoreArgs>(q->args);
    CHECK(s.key == "key");
    CHECK(s.value == "value");
    CHECK(s.seq == 3);
    CHECK(s.token == "tok");
    CHECK(s.target == NodeId::from_key("key"));
    CHECK_FALSE(s.ttl.has_value());

    CHECK(krpc::method_name(Method::Ping) == "ping");
    CHECK(krpc::method_name(Method::FindNode) == "find_node");
    CHECK(krpc::method_name(Method::FindValue) == "find_value");
    CHECK(krpc::method_name(Method::Store) == "store");
}

TEST_CASE("KRPC: an unknown method decodes as Method::Unknown", "[krpc]") {
    SECTION("with arguments") {
        const Message m = decode_ok(
            bencode::encode(query_dict("vote", Dict{{"id", raw(9)}, {"target", raw(3)}})));
        const auto& q = std::get<krpc::Query>(m.body);
        CHECK(q.method() == Method::Unknown);
        CHECK(std::get<krpc::UnknownArgs>(q.args).method == "vote");
        CHECK(q.id == filled(9));
    }
    SECTION("without 'a'") {
        const Message m = decode_ok(bencode::encode(Dict{{"q", "vote"}, {"t", "aa"}, {"y", "q"}}));
        const auto& q = std::get<krpc::Query>(m.body);
        CHECK(q.method() == Method::Unknown);
        CHECK(std::get<krpc::UnknownArgs>(q.args).method == "vote");
        CHECK(q.id == NodeId());
    }
    SECTION("with an 'a' that is not a dictionary") {
        const Message m =
            decode_ok(bencode::encode(Dict{{"a", 5}, {"q", "vote"}, {"t", "aa"}, {"y", "q"}}));
        CHECK(std::get<krpc::Query>(m.body).method() == Method::Unknown);
    }
    SECTION("with an id of the wrong length") {
        const Message m = decode_ok(bencode::encode(query_dict("vote", Dict{{"id", raw(9, 19)}})));
        CHECK(std::get<krpc::Query>(m.body).id == NodeId());
    }
}

TEST_CASE("KRPC: unknown keys are ignored", "[krpc]") {
    Dict a = find_args();
    a["zzz"] = List{Value(1)};
    a["aaa"] = "x";
    Dict top = query_dict("find_node", a);
    top["extra"] = Dict{{"x", 1}};
    top["ro"] = 1;  // BEP 43's read-only flag: once unknown here, now understood
    const Message m = decode_ok(bencode::encode(top));
    Message expected = query({filled(1), krpc::FindNodeArgs{filled(2), std::nullopt}});
    expected.read_only = true;
    CHECK(m == expected);

    Dict r{{"id", raw(1)}, {"nodes", compact_v4(filled(3), "1.2.3.4:5")}, {"x", List{}}};
    Dict resp = response_dict(r);
    resp["ro"] = 0;
    const Message mr = decode_ok(bencode::encode(resp));
    CHECK(mr == response({filled(1), {{filled(3), ep("1.2.3.4:5")}}, {}, {}}));

    // Want entries other than n4 and n6 are ignored, as are non-strings.
    a = find_args();
    a["want"] = List{Value("n5"), Value(4), Value("n6")};
    const Message mw = decode_ok(bencode::encode(query_dict("find_node", a)));
    CHECK(std::get<krpc::FindNodeArgs>(std::get<krpc::Query>(mw.body).args).want ==
          krpc::Want{false, true});
}

TEST_CASE("KRPC: malformed messages are dropped", "[krpc]") {
    SECTION("not bencode") {
        for (std::string_view bytes :
             {"", "hello", "d1:t2:aa1:y1:q", "i1ei2e", "d1:y1:q1:t2:aae"}) {
            const auto f = decode_fail(bytes);
            CHECK(f.kind == DecodeFailureKind::Malformed);
            CHECK_THAT(f.reason, Catch::StartsWith("bencode: "));
        }
    }
    SECTION("not a dictionary") {
        check_malformed(List{Value("t"), Value("aa")}, "not a dictionary");
        check_malformed(Value(5), "not a dictionary");
        check_malformed(Value("d1:t2:aae"), "not a dictionary");
    }
    SECTION("missing or bad t") {
        check_malformed(Dict{{"q", "ping"}, {"y", "q"}, {"a", Dict{{"id", raw(1)}}}},
                        "missing 't'");
        Dict d = query_dict("ping", Dict{{"id", raw(1)}});
        d["t"] = std::string(krpc::kMaxTransactionId + 1, 't');
        check_malformed(d, "'t' must be at most 16 bytes long");
        d["t"] = 7;
        check_malformed(d, "'t' must be a string");
    }
    SECTION("bad y") {
        Dict d = query_dict("ping", Dict{{"id", raw(1)}});
        d["y"] = "x";
        check_malformed(d, "'y' must be q, r or e");
        d["y"] = "qq";
        check_malformed(d, "'y' must be exactly 1 bytes long");
        d["y"] = "";
        check_malformed(d, "'y' must be exactly 1 bytes long");
        d["y"] = 1;
        check_malformed(d, "'y' must be a string");
        d.erase("y");
        check_malformed(d, "missing 'y'");
    }
    SECTION("version too long") {
        Dict d = query_dict("ping", Dict{{"id", raw(1)}});
        d["v"] = std::string(krpc::kMaxVersionSize + 1, 'v');
        check_malformed(d, "'v' must be at most");
    }
    SECTION("response without r or id") {
        check_malformed(Dict{{"t", "aa"}, {"y", "r"}}, "missing 'r'");
        check_malformed(Dict{{"r", "x"}, {"t", "aa"}, {"y", "r"}}, "'r' must be a dictionary");
        check_malformed(response_dict(Dict{}), "missing 'id' in 'r'");
        check_malformed(response_dict(Dict{{"nodes", ""}}), "missing 'id' in 'r'");
    }
    SECTION("response id of the wrong length") {
        check_malformed(response_dict(Dict{{"id", raw(1, 19)}}),
                        "'id' in 'r' must be exactly 20 bytes long");
        check_malformed(response_dict(Dict{{"id", raw(1, 21)}}),
                        "'id' in 'r' must be exactly 20 bytes long");
        check_malformed(response_dict(Dict{{"id", 1}}), "'id' in 'r' must be a string");
    }
    SECTION("nodes of a length that is not a multiple of 26") {
        const std::string one = compact_v4(filled(3), "1.2.3.4:5");
        check_malformed(response_dict(Dict{{"id", raw(1)}, {"nodes", one + "x"}}),
                        "'nodes' in 'r' must be a multiple of 26 bytes long");
        check_malformed(response_dict(Dict{{"id", raw(1)}, {"nodes", one.substr(0, 25)}}),
                        "'nodes' in 'r' must be a multiple of 26");
        check_malformed(response_dict(Dict{{"id", raw(1)}, {"nodes6", std::string(26, 'x')}}),
                        "'nodes6' in 'r' must be a multiple of 38");
        check_malformed(response_dict(Dict{{"id", raw(1)}, {"nodes", List{}}}),
                        "'nodes' in 'r' must be a string");
    }
    SECTION("too many nodes") {
        const krpc::Limits limits;
        std::string nodes;
        for (std::size_t i = 0; i < limits.max_nodes; ++i) {
            nodes += compact_v4(filled(static_cast<std::uint8_t>(i)), "1.2.3.4:5");
        }
        const Message ok =
            decode_ok(bencode::encode(response_dict(Dict{{"id", raw(1)}, {"nodes", nodes}})));
        CHECK(std::get<krpc::Response>(ok.body).nodes.size() == limits.max_nodes);
        check_malformed(response_dict(Dict{{"id", raw(1)}, {"nodes", nodes + nodes.substr(0, 26)}}),
                        "too many entries in 'nodes'");
        check_malformed(
            response_dict(
                Dict{{"id", raw(1)}, {"nodes6", std::string(38 * (limits.max_nodes + 1), '\x01')}}),
            "too many entries in 'nodes6'");
    }
    SECTION("a token too long") {
        check_malformed(response_dict(Dict{{"id", raw(1)},
                                           {"token", std::string(krpc::kMaxTokenSize + 1, 't')}}),
                        "'token' in 'r' must be at most 64 bytes long");
    }
    SECTION("an item with a negative or mistyped seq") {
        // (A "k" or a "v" alone was refused here before BEP 44: it is now a BEP 44 get answer,
        // tested in "BEP 44: get answers".)
        check_malformed(response_dict(Dict{{"id", raw(1)}, {"seq", -1}, {"v", "5:value"}}),
                        "'seq' in 'r' must not be negative");
        check_malformed(
            response_dict(Dict{{"id", raw(1)}, {"k", "key"}, {"seq", -1}, {"v", "value"}}),
            "'seq' in 'r' must not be negative");
        check_malformed(
            response_dict(Dict{{"id", raw(1)}, {"k", "key"}, {"seq", "1"}, {"v", "value"}}),
            "'seq' in 'r' must be an integer");
    }
    SECTION("bad errors") {
        check_malformed(Dict{{"t", "aa"}, {"y", "e"}}, "missing 'e'");
        check_malformed(Dict{{"e", "oops"}, {"t", "aa"}, {"y", "e"}}, "'e' must be a list");
        check_malformed(Dict{{"e", List{Value(201)}}, {"t", "aa"}, {"y", "e"}},
                        "'e' must be [code, message]");
        check_malformed(Dict{{"e", List{Value("201"), Value("x")}}, {"t", "aa"}, {"y", "e"}},
                        "'e' must be [code, message]");
        check_malformed(Dict{{"e", List{Value(201), Value(5)}}, {"t", "aa"}, {"y", "e"}},
                        "'e' must be [code, message]");
        check_malformed(Dict{{"e", List{Value(1000), Value("x")}}, {"t", "aa"}, {"y", "e"}},
                        "error code out of range");
        check_malformed(Dict{{"e", List{Value(-1), Value("x")}}, {"t", "aa"}, {"y", "e"}},
                        "error code out of range");
    }
}

TEST_CASE("KRPC: a query with bad arguments is a BadQuery naming the key", "[krpc]") {
    SECTION("missing a") {
        check_bad_query(Dict{{"q", "ping"}, {"t", "aa"}, {"y", "q"}}, "missing 'a'");
        check_bad_query(Dict{{"a", List{}}, {"q", "ping"}, {"t", "aa"}, {"y", "q"}},
                        "'a' must be a dictionary");
    }
    SECTION("missing or bad q") {
        check_bad_query(Dict{{"a", Dict{{"id", raw(1)}}}, {"t", "aa"}, {"y", "q"}}, "missing 'q'");
        check_bad_query(Dict{{"a", Dict{{"id", raw(1)}}}, {"q", 1}, {"t", "aa"}, {"y", "q"}},
                        "'q' must be a string");
    }
    SECTION("missing or bad id") {
        check_bad_query(query_dict("ping", Dict{}), "missing 'id' in 'a'");
        check_bad_query(query_dict("ping", Dict{{"id", raw(1, 19)}}),
                        "'id' in 'a' must be exactly 20 bytes long");
        Dict a = find_args();
        a["id"] = 5;
        check_bad_query(query_dict("find_node", a), "'id' in 'a' must be a string");
    }
    SECTION("missing target") {
        Dict a = find_args();
        a.erase("target");
        check_bad_query(query_dict("find_node", a), "missing 'target' in 'a'");
        check_bad_query(query_dict("find_value", a), "missing 'target' in 'a'");
        Dict s = store_args();
        s.erase("target");
        check_bad_query(query_dict("store", s), "missing 'target' in 'a'");
    }
    SECTION("target of the wrong length") {
        Dict a = find_args();
        a["target"] = raw(2, 19);
        check_bad_query(query_dict("find_node", a),
                        "'target' in 'a' must be exactly 20 bytes long");
        a["target"] = raw(2, 40);
        check_bad_query(query_dict("find_value", a),
                        "'target' in 'a' must be exactly 20 bytes long");
    }
    SECTION("want not a list") {
        Dict a = find_args();
        a["want"] = "n4";
        check_bad_query(query_dict("find_node", a), "'want' in 'a' must be a list");
    }
    SECTION("store: every required key") {
        for (const char* key : {"id", "k", "seq", "target", "token", "v"}) {
            Dict s = store_args();
            s.erase(key);
            INFO(key);
            check_bad_query(query_dict("store", s), "missing '" + std::string(key) + "' in 'a'");
        }
    }
    SECTION("store: seq not an integer") {
        Dict s = store_args();
        s["seq"] = "3";
        check_bad_query(query_dict("store", s), "'seq' in 'a' must be an integer");
    }
    SECTION("store: negative seq") {
        Dict s = store_args();
        s["seq"] = -1;
        check_bad_query(query_dict("store", s), "'seq' must not be negative");
    }
    SECTION("store: ttl not positive") {
        Dict s = store_args();
        s["ttl"] = 0;
        check_bad_query(query_dict("store", s), "'ttl' must be positive");
        s["ttl"] = -5;
        check_bad_query(query_dict("store", s), "'ttl' must be positive");
        s["ttl"] = "60";
        check_bad_query(query_dict("store", s), "'ttl' in 'a' must be an integer");
    }
    SECTION("store: token too long, key or value not a string") {
        Dict s = store_args();
        s["token"] = std::string(krpc::kMaxTokenSize + 1, 't');
        check_bad_query(query_dict("store", s), "'token' in 'a' must be at most 64 bytes long");
        s = store_args();
        s["k"] = 1;
        check_bad_query(query_dict("store", s), "'k' in 'a' must be a string");
        s = store_args();
        s["v"] = Dict{};
        check_bad_query(query_dict("store", s), "'v' in 'a' must be a string");
    }
    SECTION("listen: every required key, a ttl that is not positive") {
        const Dict listen{{"id", raw(1)}, {"tag", "tg"}, {"target", raw(2)}, {"token", "tok"}};
        for (const char* key : {"id", "tag", "target", "token"}) {
            Dict a = listen;
            a.erase(key);
            INFO(key);
            check_bad_query(query_dict("listen", a), "missing '" + std::string(key) + "' in 'a'");
        }
        Dict a = listen;
        a["ttl"] = 0;
        check_bad_query(query_dict("listen", a), "'ttl' must be positive");
        a["target"] = raw(2, 19);
        check_bad_query(query_dict("listen", a), "'target' in 'a' must be exactly 20 bytes long");
        a = listen;
        a["tag"] = std::string(krpc::kMaxTagSize + 1, 't');
        check_bad_query(query_dict("listen", a), "'tag' in 'a' must be at most 20 bytes long");
        a = listen;
        a["seq"] = -1;
        check_bad_query(query_dict("listen", a), "'seq' must not be negative");
    }
    SECTION("notify: every required key, a negative seq") {
        for (const char* key : {"id", "k", "seq", "tag", "target", "v"}) {
            Dict s = store_args();
            s.erase("token");
            s["tag"] = "tg";
            s.erase(key);
            INFO(key);
            check_bad_query(query_dict("notify", s), "missing '" + std::string(key) + "' in 'a'");
        }
        Dict s = store_args();
        s["tag"] = "tg";
        s["seq"] = -1;
        check_bad_query(query_dict("notify", s), "'seq' must not be negative");
    }
    SECTION("the longest token is accepted") {
        Dict s = store_args();
        s["token"] = std::string(krpc::kMaxTokenSize, 't');
        const Message m = decode_ok(bencode::encode(query_dict("store", s)));
        CHECK(std::get<krpc::StoreArgs>(std::get<krpc::Query>(m.body).args).token.size() ==
              krpc::kMaxTokenSize);
    }
}

TEST_CASE("KRPC: the requester address in 'ip'", "[krpc]") {
    Dict d = response_dict(Dict{{"id", raw(1)}});
    d["ip"] = std::string("\x7f\x00\x00\x01\x1a\xe1", 6);
    Message m = decode_ok(bencode::encode(d));
    REQUIRE(m.requester.has_value());
    CHECK(*m.requester == ep("127.0.0.1:6881"));
    // An address of the wrong size is ignored, not fatal.
    d["ip"] = "abc";
    m = decode_ok(bencode::encode(d));
    CHECK_FALSE(m.requester.has_value());
    d["ip"] = 5;
    check_malformed(d, "'ip' must be a string");
}

TEST_CASE("KRPC: an item in a response defaults seq to 0", "[krpc]") {
    const Message m =
        decode_ok(bencode::encode(response_dict(Dict{{"id", raw(1)}, {"k", "a"}, {"v", "b"}})));
    const auto& r = std::get<krpc::Response>(m.body);
    REQUIRE(r.item.has_value());
    CHECK(*r.item == krpc::Item{"a", "b", 0});
}

TEST_CASE("KRPC: bencode limits apply", "[krpc]") {
    krpc::Limits limits;
    limits.bencode.max_elements = 8;
    const std::string bytes = bencode::encode(query_dict("find_node", find_args()));
    const auto f = decode_fail(bytes, limits);  // 13 elements
    CHECK(f.kind == DecodeFailureKind::Malformed);
    CHECK_THAT(f.reason, Catch::Contains("too many elements"));
    limits.bencode.max_elements = 13;
    decode_ok(bytes, limits);
}

TEST_CASE("KRPC: validate_response", "[krpc]") {
    const krpc::Response bare{filled(1), {}, std::nullopt, std::nullopt};
    krpc::Response with_nodes = bare;
    with_nodes.nodes.push_back({filled(3), ep("1.2.3.4:5")});
    krpc::Response with_token = bare;
    with_token.token = "tok";
    krpc::Response with_item = with_token;
    with_item.item = krpc::Item{"k", "v", 1};
    krpc::Response item_no_token = bare;
    item_no_token.item = krpc::Item{"k", "v", 1};

    SECTION("ping and store need only the id") {
        for (Method m : {Method::Ping, Method::Store}) {
            CHECK(krpc::validate_response(m, bare).empty());
            CHECK(krpc::validate_response(m, with_item).empty());
        }
    }
    SECTION("find_node") {
        CHECK(krpc::validate_response(Method::FindNode, with_nodes).empty());
        // A node that knows nobody answers with no nodes; the encoder omits an empty list.
        CHECK(krpc::validate_response(Method::FindNode, bare).empty());
        // An item in a find_node answer is not looked at, so it does not spoil the answer.
        CHECK(krpc::validate_response(Method::FindNode, item_no_token).empty());
    }
    SECTION("find_value may come back without a token: a foreign node answering as find_node") {
        CHECK(krpc::validate_response(Method::FindValue, with_item).empty());
        CHECK(krpc::validate_response(Method::FindValue, with_token).empty());
        krpc::Response nodes_token = with_nodes;
        nodes_token.token = "tok";
        CHECK(krpc::validate_response(Method::FindValue, nodes_token).empty());
        // Accepted as routing only: the lookup uses its nodes and stores nothing there
        // (LookupParams::need_token).
        CHECK(krpc::validate_response(Method::FindValue, with_nodes).empty());
        CHECK(krpc::validate_response(Method::FindValue, item_no_token).empty());
        CHECK(krpc::validate_response(Method::FindValue, bare).empty());
    }
    SECTION("get_peers and get need a token") {
        for (Method m : {Method::GetPeers, Method::Get}) {
            CHECK_THAT(krpc::validate_response(m, with_nodes), Catch::Contains("without 'token'"));
            CHECK(krpc::validate_response(m, with_token).empty());
        }
    }
}

TEST_CASE("KRPC: compact node lists", "[krpc]") {
    const std::vector<krpc::NodeInfo> nodes{
        {filled(1), ep("1.2.3.4:1")}, {filled(2), ep("[::1]:2")}, {filled(3), ep("5.6.7.8:65535")}};
    std::string v4, v6;
    krpc::append_compact_nodes(v4, v6, nodes);
    CHECK(v4.size() == 2 * krpc::kCompactNodeV4);
    CHECK(v6.size() == krpc::kCompactNodeV6);
    CHECK(v4.substr(0, 26) ==
          std::string(filled(1).raw()) + std::string("\x01\x02\x03\x04\x00\x01", 6));

    std::vector<krpc::NodeInfo> back;
    REQUIRE(krpc::parse_compact_nodes(v4, krpc::kCompactNodeV4, 64, back));
    REQUIRE(krpc::parse_compact_nodes(v6, krpc::kCompactNodeV6, 64, back));
    CHECK(back == std::vector<krpc::NodeInfo>{nodes[0], nodes[2], nodes[1]});

    back.clear();
    CHECK(krpc::parse_compact_nodes(v4, krpc::kCompactNodeV4, 2, back));
    CHECK_FALSE(krpc::parse_compact_nodes(v4, krpc::kCompactNodeV4, 1, back));
}

TEST_CASE("KRPC: the top level is checked in order: every message's keys, then its kind's",
          "[krpc]") {
    // One walk finds every top-level key; the reasons must still come in this order.
    SECTION("a bad 't' is reported before anything of the kind") {
        check_malformed(Dict{{"t", 1}, {"y", "q"}}, "'t' must be a string");
        check_malformed(Dict{{"ro", "x"}, {"t", "aa"}, {"y", "e"}}, "'ro' must be an integer");
        check_malformed(Dict{{"t", "aa"}, {"v", std::string(65, 'v')}, {"y", "r"}},
                        "'v' must be at most 64 bytes long");
        check_malformed(Dict{{"e", 1}, {"t", "aa"}}, "missing 'y'");
    }
    SECTION("the kind's keys, in table order") {
        check_bad_query(Dict{{"a", 1}, {"q", 2}, {"t", "aa"}, {"y", "q"}},
                        "'a' must be a dictionary");
        check_malformed(Dict{{"ip", 1}, {"r", 2}, {"t", "aa"}, {"y", "r"}},
                        "'ip' must be a string");
        check_malformed(Dict{{"ip", "abcdef"}, {"r", 2}, {"t", "aa"}, {"y", "r"}},
                        "'r' must be a dictionary");
        check_malformed(Dict{{"e", Dict{}}, {"t", "aa"}, {"y", "e"}}, "'e' must be a list");
    }
    SECTION("another kind's keys are ignored, whatever their type") {
        const Value junk = List{Value(1), Value("x")};
        Dict q = query_dict("ping", Dict{{"id", raw(1)}});
        q["e"] = 5;
        q["ip"] = junk;
        q["r"] = "x";
        const Message mq = decode_ok(bencode::encode(q));
        CHECK(mq == query({filled(1), krpc::PingArgs{}}));

        Dict r = response_dict(Dict{{"id", raw(1)}});
        r["a"] = junk;
        r["e"] = Dict{};
        r["q"] = 7;
        CHECK(decode_ok(bencode::encode(r)) == response({filled(1), {}, {}, {}}));

        Dict e{{"a", 1},  {"e", List{Value(201), Value("x")}},
               {"q", 1},  {"r", 1},
               {"ip", 1}, {"t", "aa"},
               {"y", "e"}};
        const Message me = decode_ok(bencode::encode(e));
        CHECK(std::get<krpc::Error>(me.body) == krpc::Error{201, "x"});
        CHECK_FALSE(me.requester.has_value());
    }
    SECTION("an unknown method whose 'a' is bad is still answered 204") {
        for (const Value& a : {Value(1), Value("x"), Value(List{})}) {
            const Message m =
                decode_ok(bencode::encode(Dict{{"a", a}, {"q", "vote"}, {"t", "aa"}, {"y", "q"}}));
            const auto& q = std::get<krpc::Query>(m.body);
            CHECK(q.method() == Method::Unknown);
            CHECK(q.id == NodeId());
        }
    }
}

TEST_CASE("KRPC: arguments among keys of no table are all found", "[krpc]") {
    // Keys that sort before, between and after a table's keys, and prefixes of them: the walk
    // that merges a dictionary with its table must step over each one.
    Dict a = store_args();
    for (const char* extra : {"", "a", "i", "ic", "id0", "j", "k0", "kk", "s", "seq0", "t", "tar",
                              "targets", "to", "tokens", "ttl0", "u", "v0", "zz"}) {
        a[extra] = List{Value(extra)};
    }
    a["ttl"] = 60;
    const Message m = decode_ok(bencode::encode(query_dict("store", a)));
    const auto& s = std::get<krpc::StoreArgs>(std::get<krpc::Query>(m.body).args);
    CHECK(std::get<krpc::Query>(m.body).id == filled(1));
    CHECK(s.key == "key");
    CHECK(s.seq == 3);
    CHECK(s.target == NodeId::from_key("key"));
    CHECK(s.token == "tok");
    CHECK(s.ttl == 60);
    CHECK(s.value == "value");

    // And a missing key among them is still missing, the first missing in table order.
    a.erase("seq");
    a.erase("token");
    check_bad_query(query_dict("store", a), "missing 'seq' in 'a'");
}

TEST_CASE("KRPC: BEP 44's 'v' is of any type, in a put and in an answer", "[krpc][bep44]") {
    const std::string token = "tok";
    for (const std::string v : {"i-5e", "5:hello", "li1e1:xe", "d1:ai1ee", "0:"}) {
        INFO("v = " << v);
        // A put (immutable): 'v' travels as its bencoded bytes.
        const std::string put =
            "d1:ad2:id20:" + raw(1) + "5:token3:tok1:v" + v + "e1:q3:put1:t2:aa1:y1:qe";
        const Message mp = decode_ok(put);
        const auto& p = std::get<krpc::PutArgs>(std::get<krpc::Query>(mp.body).args);
        CHECK(p.value == v);
        CHECK(p.token == token);

        // A get answer: a string 'v' with no 'k' is BEP 44's too.
        const std::string answer =
            "d1:rd2:id20:" + raw(1) + "5:token3:tok1:v" + v + "e1:t2:aa1:y1:re";
        const Message ma = decode_ok(answer);
        const auto& r = std::get<krpc::Response>(ma.body);
        REQUIRE(r.data.has_value());
        CHECK(r.data->value == v);
        CHECK(r.token == token);
        CHECK(krpc::encode(ma) == answer);
    }
    // Without 'v' a put is a bad query, reported after the keys before it in the table.
    CHECK(decode_fail("d1:ad2:id20:" + raw(1) + "5:token3:toke1:q3:put1:t2:aa1:y1:qe").reason ==
          "missing 'v' in 'a'");
    CHECK(decode_fail("d1:ad2:id20:" + raw(1) + "e1:q3:put1:t2:aa1:y1:qe").reason ==
          "missing 'token' in 'a'");
}

TEST_CASE("KRPC: node lists decode to the contacts they carry", "[krpc]") {
    // IPv4 and IPv6 entries, each written in place into the answer's vector: addresses and ports
    // with every byte set, and IPv4 entries after IPv6 ones in the same vector.
    std::vector<krpc::NodeInfo> nodes;
    for (int i = 0; i < 20; ++i) {
        const auto b = static_cast<std::uint8_t>(0xe0 + i);
        nodes.push_back({filled(b), Endpoint::v4({b, 0xff, 0x00, 0x7f},
                                                 static_cast<std::uint16_t>(0xff00 + i))});
    }
    std::array<std::uint8_t, 16> v6{};
    v6.fill(0xfe);
    for (int i = 0; i < 5; ++i) {
        v6[15] = static_cast<std::uint8_t>(i);
        nodes.push_back({filled(static_cast<std::uint8_t>(i)),
                         Endpoint::v6(v6, static_cast<std::uint16_t>(0x00ff + i))});
    }
    const Message sent = response({filled(1), nodes, std::string("tok"), std::nullopt});
    const Message back = decode_ok(krpc::encode(sent));
    CHECK(back == sent);
    const auto& r = std::get<krpc::Response>(back.body);
    REQUIRE(r.nodes.size() == nodes.size());
    CHECK(r.nodes[0].endpoint.to_string() == "224.255.0.127:65280");
    CHECK(r.nodes[20].endpoint.is_v6());
    CHECK(r.nodes[20].endpoint.port() == 0x00ff);

    // What parse_compact_nodes appends, it appends after what was there.
    std::string v4s, v6s;
    krpc::append_compact_nodes(v4s, v6s, nodes);
    std::vector<krpc::NodeInfo> out;
    REQUIRE(krpc::parse_compact_nodes(v6s, krpc::kCompactNodeV6, 64, out));
    REQUIRE(krpc::parse_compact_nodes(v4s, krpc::kCompactNodeV4, 64, out));
    REQUIRE(out.size() == nodes.size());
    CHECK(out[0] == nodes[20]);
    CHECK(out[5] == nodes[0]);
    CHECK(out[24] == nodes[19]);
}

TEST_CASE("KRPC: no proper prefix of a message decodes, and none crashes", "[krpc]") {
    bencode::Document scratch;
    for (const auto& s : samples()) {
        const std::string bytes = krpc::encode(s.message);
        for (std::size_t len = 0; len < bytes.size(); ++len) {
            const std::string prefix = bytes.substr(0, len);
            INFO(s.name << ", prefix length " << len);
            auto m = krpc::decode(prefix, scratch);
            REQUIRE_FALSE(m.has_value());
            CHECK(m.error().kind == DecodeFailureKind::Malformed);
        }
    }
}

// ---- BEP 5: get_peers and announce_peer, from the BEP's own examples ----------------------------

namespace {

NodeId id_text(std::string_view twenty) {
    return *NodeId::from_bytes(twenty);
}

}  // namespace

TEST_CASE("BEP 5 get_peers: the BEP's example query, both ways", "[krpc][bep5]") {
    const std::string bytes =
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers"
        "1:t2:aa1:y1:qe";
    const Message m = decode_ok(bytes);
    const auto& q = std::get<krpc::Query>(m.body);
    REQUIRE(q.method() == Method::GetPeers);
    CHECK(q.id == id_text("abcdefghij0123456789"));
    CHECK(std::get<krpc::GetPeersArgs>(q.args).info_hash == id_text("mnopqrstuvwxyz123456"));
    CHECK_FALSE(std::get<krpc::GetPeersArgs>(q.args).want);
    CHECK(krpc::encode(m) == bytes);
    CHECK(krpc::method_name(Method::GetPeers) == "get_peers");
}

TEST_CASE("BEP 5 get_peers: the BEP's example answer with peers, both ways", "[krpc][bep5]") {
    const std::string bytes =
        "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa"
        "1:y1:re";
    const Message m = decode_ok(bytes);
    const auto& r = std::get<krpc::Response>(m.body);
    CHECK(r.id == id_text("abcdefghij0123456789"));
    CHECK(r.token == std::optional<std::string>("aoeusnth"));
    REQUIRE(r.values);
    REQUIRE(r.values->size() == 2);
    // "axje.u": the address a x j e, the port ".u" (0x2e75).
    CHECK((*r.values)[0] == Endpoint::v4({'a', 'x', 'j', 'e'}, 0x2e75));
    CHECK((*r.values)[1] == Endpoint::v4({'i', 'd', 'h', 't'}, 0x6e6d));
    CHECK(krpc::encode(m) == bytes);
    CHECK(krpc::validate_response(Method::GetPeers, r).empty());
    krpc::Response no_token = r;
    no_token.token.reset();
    CHECK(krpc::validate_response(Method::GetPeers, no_token) ==
          "get_peers response without 'token'");
}

TEST_CASE("BEP 5 get_peers: the BEP's answer with nodes is illustrative, and refused",
          "[krpc][bep5]") {
    // BEP 5 writes "def456..." for the compact node list: 9 bytes, not a multiple of 26.
    const auto f = decode_fail(
        "d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:aa1:y1:re");
    CHECK(f.kind == DecodeFailureKind::Malformed);
    CHECK(f.reason.find("nodes") != std::string::npos);
}

TEST_CASE("BEP 5 announce_peer: the BEP's example query and answer, both ways", "[krpc][bep5]") {
    const std::string bytes =
        "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz123456"
        "4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
    const Message m = decode_ok(bytes);
    const auto& q = std::get<krpc::Query>(m.body);
    REQUIRE(q.method() == Method::AnnouncePeer);
    const auto& a = std::get<krpc::AnnouncePeerArgs>(q.args);
    CHECK(a.info_hash == id_text("mnopqrstuvwxyz123456"));
    CHECK(a.port == 6881);
    CHECK(a.implied_port);
    CHECK(a.token == "aoeusnth");
    CHECK(krpc::encode(m) == bytes);
    CHECK(krpc::method_name(Method::AnnouncePeer) == "announce_peer");

    const std::string answer = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
    const Message r = decode_ok(answer);
    CHECK(std::get<krpc::Response>(r.body).id == id_text("mnopqrstuvwxyz123456"));
    CHECK(krpc::encode(r) == answer);
}

TEST_CASE("BEP 5 announce_peer: without implied_port the port must be a port", "[krpc][bep5]") {
    auto args = [](std::int64_t port) {
        return Dict{{"id", raw(1)}, {"info_hash", raw(2)}, {"port", port}, {"token", "tok"}};
    };
    for (std::int64_t bad : {0, -1, 65536}) {
        const auto f = decode_fail(bencode::encode(query_dict("announce_peer", args(bad))));
        CHECK(f.kind == DecodeFailureKind::BadQuery);
        CHECK(f.reason == "'port' must be from 1 to 65535");
    }
    // With implied_port the port is not looked at.
    Dict implied = args(0);
    implied["implied_port"] = 1;
    const Message m = decode_ok(bencode::encode(query_dict("announce_peer", implied)));
    CHECK(std::get<krpc::AnnouncePeerArgs>(std::get<krpc::Query>(m.body).args).implied_port);
    // A missing token or info_hash is a bad query, answered 203.
    Dict no_token = args(80);
    no_token.erase("token");
    CHECK(decode_fail(bencode::encode(query_dict("announce_peer", no_token))).reason ==
          "missing 'token' in 'a'");
}

TEST_CASE("BEP 5 values: compact peers of either family; anything else refuses the answer",
          "[krpc][bep5]") {
    const Endpoint v6 = ep("[2001:db8::1]:6881");
    Dict r{{"id", raw(1)},
           {"token", "t"},
           {"values", List{Value(ep("192.0.2.1:80").compact()), Value(v6.compact())}}};
    const Message m = decode_ok(bencode::encode(response_dict(r)));
    const auto& values = *std::get<krpc::Response>(m.body).values;
    REQUIRE(values.size() == 2);
    CHECK(values[1] == v6);
    CHECK(krpc::encode(m) == bencode::encode(response_dict(r)));

    r["values"] = List{Value("12345")};
    CHECK(decode_fail(bencode::encode(response_dict(r))).reason ==
          "a peer in 'values' must be a 6- or 18-byte string");
    r["values"] = List{Value(7)};
    CHECK(decode_fail(bencode::encode(response_dict(r))).kind == DecodeFailureKind::Malformed);
    // Bounded like the node lists.
    krpc::Limits small;
    small.max_values = 1;
    r["values"] = List{Value(ep("192.0.2.1:80").compact()), Value(ep("192.0.2.2:80").compact())};
    CHECK(decode_fail(bencode::encode(response_dict(r)), small).reason ==
          "too many entries in 'values'");
    // An empty list is kept as such: encoding gives back the same bytes.
    r["values"] = List{};
    const Message empty = decode_ok(bencode::encode(response_dict(r)));
    REQUIRE(std::get<krpc::Response>(empty.body).values);
    CHECK(std::get<krpc::Response>(empty.body).values->empty());
    CHECK(krpc::encode(empty) == bencode::encode(response_dict(r)));
}

TEST_CASE("BEP 5: node lists asked for are carried even when empty", "[krpc][bep5]") {
    krpc::Response r{.id = filled(1)};
    r.empty_lists = krpc::Want{true, false};
    const std::string with_nodes = krpc::encode(response(r));
    CHECK(with_nodes == bencode::encode(response_dict(Dict{{"id", raw(1)}, {"nodes", ""}})));
    r.empty_lists = krpc::Want{true, true};
    const std::string both = krpc::encode(response(r));
    CHECK(both ==
          bencode::encode(response_dict(Dict{{"id", raw(1)}, {"nodes", ""}, {"nodes6", ""}})));
    // Decoding remembers that they were there, so the bytes come back the same.
    CHECK(krpc::encode(decode_ok(both)) == both);
    CHECK(std::get<krpc::Response>(decode_ok(both).body).empty_lists == krpc::Want{true, true});
    // Not asked for: not there.
    CHECK(krpc::encode(response(krpc::Response{.id = filled(1)})) ==
          bencode::encode(response_dict(Dict{{"id", raw(1)}})));
}

// ---- The documented examples (docs/PROTOCOL.md §10, the decode fuzzer's seeds)
// -------------------

namespace {

std::string seed(const std::string& name) {
    const std::string path = std::string(KAD_SOURCE_DIR) + "/fuzz/corpus/decode/" + name;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) FAIL("cannot read " << path);
    std::string bytes;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
    std::fclose(f);
    return bytes;
}

Message example(krpc::Query q) {
    Message m = query(std::move(q));
    m.version = std::string("KN\x00\x01", 4);
    return m;
}

Message example(krpc::Response r) {
    Message m = response(std::move(r));
    m.version = std::string("KN\x00\x01", 4);
    m.requester = ep("192.0.2.1:6881");
    return m;
}

}  // namespace

TEST_CASE("the BEP 5 examples in PROTOCOL.md are the encoder's own bytes", "[krpc][bep5]") {
    CHECK(krpc::encode(example(krpc::Query{filled(1), krpc::UnknownArgs{"vote"}})) ==
          seed("unknown_query"));
    CHECK(krpc::encode(example(
              krpc::Query{filled(1), krpc::GetPeersArgs{filled(3), krpc::Want{true, false}}})) ==
          seed("get_peers_query"));
    krpc::Response values{.id = filled(2)};
    values.nodes = {{filled(4), ep("10.0.0.4:6881")}};
    values.token = std::string(8, '\x0a');
    values.values = std::vector<Endpoint>{ep("192.0.2.10:6881"), ep("192.0.2.11:51413")};
    CHECK(krpc::encode(example(values)) == seed("get_peers_response_values"));
    krpc::AnnouncePeerArgs a;
    a.info_hash = filled(3);
    a.port = 6881;
    a.implied_port = true;
    a.token = std::string(8, '\x0a');
    CHECK(krpc::encode(example(krpc::Query{filled(1), a})) == seed("announce_peer_query"));
    krpc::Response empty{.id = filled(2)};
    empty.empty_lists = krpc::Want{true, false};
    CHECK(krpc::encode(example(empty)) == seed("find_node_response_empty"));
}

TEST_CASE("the BEP 44 examples in PROTOCOL.md are the encoder's own bytes", "[krpc][bep44]") {
    // BEP 44's test 2 (a mutable item with the salt "foobar") and test 3 (immutable).
    const auto unhex = [](std::string_view h) {
        std::string out;
        for (std::size_t i = 0; i < h.size(); i += 2) {
            out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
        }
        return out;
    };
    const std::string key =
        unhex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
    const std::string sig = unhex(
        "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
        "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");
    const NodeId target = *NodeId::from_hex("411eba73b6f087ca51a3795d9c8c938d365e32c1");
    CHECK(krpc::encode(example(krpc::Query{filled(1), krpc::GetArgs{target, 0, std::nullopt}})) ==
          seed("get_query"));
    krpc::Response r{.id = filled(2)};
    r.nodes = {{filled(4), ep("10.0.0.4:6881")}};
    r.token = std::string(8, '\x0a');
    r.data = krpc::DataItem{"12:Hello World!", key, 1, sig};
    CHECK(krpc::encode(example(r)) == seed("get_response_mutable"));
    krpc::PutArgs put;
    put.token = std::string(8, '\x0a');
    put.value = "12:Hello World!";
    CHECK(krpc::encode(example(krpc::Query{filled(1), put})) == seed("put_query_immutable"));
    put.key = key;
    put.salt = "foobar";
    put.seq = 1;
    put.signature = sig;
    CHECK(krpc::encode(example(krpc::Query{filled(1), put})) == seed("put_query_mutable"));
}

TEST_CASE("the BEP 51 examples in PROTOCOL.md are the encoder's own bytes", "[krpc][bep51]") {
    CHECK(krpc::encode(example(
              krpc::Query{filled(1), krpc::SampleInfohashesArgs{filled(3), std::nullopt}})) ==
          seed("sample_infohashes_query"));
    krpc::Response r{.id = filled(2)};
    r.nodes = {{filled(4), ep("10.0.0.4:6881")}};
    r.samples = krpc::Samples{21600, 2, {filled(6), filled(7)}};
    CHECK(krpc::encode(example(r)) == seed("sample_infohashes_response"));
}

TEST_CASE("the listen and notify examples in PROTOCOL.md are the encoder's own bytes",
          "[krpc][watch]") {
    krpc::ListenArgs l;
    l.target = NodeId::from_key("greeting");
    l.token = std::string(8, '\x0a');
    l.tag = std::string(8, '\x0b');
    l.seq = 1;
    l.ttl = 90;
    CHECK(krpc::encode(example(krpc::Query{filled(1), l})) == seed("listen_query"));
    krpc::NotifyArgs n;
    n.target = NodeId::from_key("greeting");
    n.key = "greeting";
    n.value = "hello again";
    n.seq = 2;
    n.tag = std::string(8, '\x0b');
    CHECK(krpc::encode(example(krpc::Query{filled(1), n})) == seed("notify_query"));
}

TEST_CASE("every hex dump in PROTOCOL.md is its seed file, byte for byte", "[krpc]") {
    const std::string path = std::string(KAD_SOURCE_DIR) + "/docs/PROTOCOL.md";
    std::ifstream in(path);
    REQUIRE(in);
    // An example's heading names its seed; its second fenced block is the hex dump.
    const std::regex heading(R"(^### .*\((\d+) bytes; fuzz/corpus/decode/(\w+)\)$)");
    std::string line;
    std::string name;
    std::size_t size = 0;
    int fences = 0;
    std::string bytes;
    std::size_t examples = 0;
    std::size_t headings = 0;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, heading)) {
            ++headings;
            name = m[2];
            size = std::stoul(m[1]);
            fences = 0;
            bytes.clear();
            continue;
        }
        if (name.empty()) continue;
        if (line == "```") {
            if (++fences == 4) {  // the end of the hex dump
                INFO(name);
                CHECK(bytes.size() == size);
                CHECK(bytes == seed(name));
                ++examples;
                name.clear();
            }
            continue;
        }
        if (fences != 3) continue;
        // "0010  01 02 ...  |...|": the bytes are between the offset and the text.
        const std::string hex = line.substr(6, line.find('|') - 6);
        std::istringstream words(hex);
        for (std::string w; words >> w;)
            bytes.push_back(static_cast<char>(std::stoi(w, nullptr, 16)));
    }
    CHECK(examples == headings);  // every example's dump was read to its end
    CHECK(headings >= 26);
}

TEST_CASE("every documented example decodes and encodes back to the same bytes", "[krpc]") {
    for (const char* name : {"ping_query",
                             "ping_response",
                             "find_node_query",
                             "find_node_response",
                             "find_node_response_empty",
                             "find_value_query",
                             "find_value_response_nodes",
                             "find_value_response_item",
                             "store_query",
                             "store_response",
                             "get_peers_query",
                             "get_peers_response_values",
                             "announce_peer_query",
                             "unknown_query",
                             "error_203",
                             "error_204",
                             "error_302",
                             "get_query",
                             "get_response_mutable",
                             "put_query_mutable",
                             "put_query_immutable",
                             "error_206",
                             "sample_infohashes_query",
                             "sample_infohashes_response",
                             "listen_query",
                             "notify_query"}) {
        INFO(name);
        const std::string bytes = seed(name);
        CHECK(krpc::encode(decode_ok(bytes)) == bytes);
    }
}
