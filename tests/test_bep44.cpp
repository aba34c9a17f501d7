// BEP 44 below the network: Ed25519 against RFC 8032, the BEP's own test vectors (signed bytes,
// signatures, targets), the get and put messages, and bencode's raw value view they rely on.

#include <catch2/catch.hpp>
#include <string>

#include "kad/bencode.hpp"
#include "kad/bep44.hpp"
#include "kad/crypto.hpp"
#include "kad/krpc.hpp"

using namespace kad;
using krpc::Method;

namespace {

std::string unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

std::string to_hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

Ed25519Seed seed_of(std::string_view hex) {
    Ed25519Seed s{};
    const std::string b = unhex(hex);
    std::copy(b.begin(), b.end(), s.begin());
    return s;
}

std::string bytes(const Ed25519PublicKey& k) {
    return {reinterpret_cast<const char*>(k.data()), k.size()};
}

// BEP 44's test vectors (its "test vectors" section).
const std::string kPublicKey =
    unhex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
const std::string kValue = "12:Hello World!";

krpc::Message decode_ok(std::string_view datagram) {
    auto m = krpc::decode(datagram);
    INFO(std::string(datagram));
    if (!m) FAIL(m.error().reason);
    return *m;
}

}  // namespace

TEST_CASE("Ed25519 through EVP: RFC 8032's test vectors 1 and 2", "[crypto][bep44]") {
    struct Vector {
        const char* seed;
        const char* public_key;
        const char* message;
        const char* signature;
    };
    for (const Vector& v : {
             Vector{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
             Vector{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
         }) {
        const Ed25519KeyPair key = ed25519_key_pair(seed_of(v.seed));
        CHECK(to_hex(bytes(key.public_key)) == v.public_key);
        const std::string sig = ed25519_sign(key, unhex(v.message));
        CHECK(to_hex(sig) == v.signature);
        CHECK(ed25519_verify(bytes(key.public_key), unhex(v.message), sig));
    }
}

TEST_CASE("Ed25519: a changed message, signature or key fails; wrong sizes fail", "[crypto]") {
    const Ed25519KeyPair key = ed25519_key_pair(seed_of(std::string(64, '7')));
    const std::string pub = bytes(key.public_key);
    const std::string sig = ed25519_sign(key, "message");
    CHECK(ed25519_verify(pub, "message", sig));
    CHECK_FALSE(ed25519_verify(pub, "messagE", sig));
    std::string bad = sig;
    bad[10] = static_cast<char>(bad[10] ^ 1);
    CHECK_FALSE(ed25519_verify(pub, "message", bad));
    std::string other = pub;
    other[0] = static_cast<char>(other[0] ^ 1);
    CHECK_FALSE(ed25519_verify(other, "message", sig));
    CHECK_FALSE(ed25519_verify(pub.substr(1), "message", sig));
    CHECK_FALSE(ed25519_verify(pub, "message", sig.substr(1)));
    CHECK_FALSE(ed25519_verify("", "", ""));
}

TEST_CASE("BEP 44 test 1 (mutable): the signed bytes, the signature and the target", "[bep44]") {
    CHECK(bep44::signed_bytes("", 1, kValue) == "3:seqi1e1:v12:Hello World!");
    const std::string sig = unhex(
        "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
        "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01");
    CHECK(ed25519_verify(kPublicKey, bep44::signed_bytes("", 1, kValue), sig));
    const NodeId target = bep44::mutable_target(kPublicKey, "");
    CHECK(target.to_hex() == "4a533d47ec9c7d95b1ad75f576cffc641853b750");
    bep44::Item item{kValue, kPublicKey, "", 1, sig};
    CHECK(item.target() == target);
    CHECK(bep44::problem(item, target).empty());
    item.seq = 2;  // the signature covers the seq
    CHECK(bep44::problem(item, target) == "invalid signature");
}

TEST_CASE("BEP 44 test 2 (mutable with salt): the signed bytes, the signature and the target",
          "[bep44]") {
    CHECK(bep44::signed_bytes("foobar", 1, kValue) == "4:salt6:foobar3:seqi1e1:v12:Hello World!");
    const std::string sig = unhex(
        "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
        "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");
    CHECK(ed25519_verify(kPublicKey, bep44::signed_bytes("foobar", 1, kValue), sig));
    const NodeId target = bep44::mutable_target(kPublicKey, "foobar");
    CHECK(target.to_hex() == "411eba73b6f087ca51a3795d9c8c938d365e32c1");
    const bep44::Item item{kValue, kPublicKey, "foobar", 1, sig};
    CHECK(bep44::problem(item, target).empty());
    // The same item checked without its salt is at another target.
    bep44::Item unsalted = item;
    unsalted.salt.clear();
    CHECK(bep44::problem(unsalted, target) == "the key and salt do not hash to the target");
}

TEST_CASE("BEP 44 test 3 (immutable): the target is the SHA-1 of the bencoded value", "[bep44]") {
    const NodeId target = bep44::immutable_target(kValue);
    CHECK(target.to_hex() == "e5f96f6f38320f0f33959cb4d3d656452117aadb");
    CHECK(bep44::make_immutable(kValue).target() == target);
    CHECK(bep44::problem(bep44::make_immutable(kValue), target).empty());
    CHECK(bep44::problem(bep44::make_immutable("12:Hello World?"), target) ==
          "the value does not hash to the target");
    CHECK(bep44::problem(bep44::make_immutable("12:Hello"), bep44::immutable_target("12:Hello")) ==
          "the value is not bencoded");
}

TEST_CASE("BEP 44: an item we sign verifies, and names its target", "[bep44]") {
    const Ed25519KeyPair key = ed25519_key_pair(seed_of(std::string(64, 'a')));
    const bep44::Item item = bep44::make_mutable(key, "salt", 7, "d1:ai1ee");
    CHECK(item.is_mutable());
    CHECK(item.target() == bep44::mutable_target(bytes(key.public_key), "salt"));
    CHECK(bep44::problem(item, item.target()).empty());
    bep44::Item other_value = item;
    other_value.value = "d1:ai2ee";
    CHECK(bep44::problem(other_value, item.target()) == "invalid signature");
}

TEST_CASE("bencode: raw() is each value's bytes as they were in the input", "[bencode][bep44]") {
    const std::string input = "d1:ai-12e1:bl3:xyzdee1:c0:1:d12:Hello World!e";
    bencode::Document doc;
    auto root = doc.decode(input);
    REQUIRE(root);
    CHECK(root->raw() == input);
    bencode::View v;
    REQUIRE(root->find("a", v));
    CHECK(v.raw() == "i-12e");
    REQUIRE(root->find("b", v));
    CHECK(v.raw() == "l3:xyzdee");
    CHECK(v.at(0).raw() == "3:xyz");
    CHECK(v.at(1).raw() == "de");
    REQUIRE(root->find("c", v));
    CHECK(v.raw() == "0:");
    REQUIRE(root->find("d", v));
    CHECK(v.raw() == "12:Hello World!");
}

TEST_CASE("BEP 44 get: the query with and without seq, both ways", "[krpc][bep44]") {
    const std::string plain =
        "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q3:get1:t2:aa1:y1:qe";
    krpc::Message m = decode_ok(plain);
    const auto& q = std::get<krpc::Query>(m.body);
    REQUIRE(q.method() == Method::Get);
    const auto& g = std::get<krpc::GetArgs>(q.args);
    CHECK(g.target.raw() == "mnopqrstuvwxyz123456");
    CHECK_FALSE(g.seq);
    CHECK(krpc::encode(m) == plain);
    const std::string with_seq =
        "d1:ad2:id20:abcdefghij01234567893:seqi4e6:target20:mnopqrstuvwxyz123456e1:q3:get"
        "1:t2:aa1:y1:qe";
    m = decode_ok(with_seq);
    CHECK(std::get<krpc::GetArgs>(std::get<krpc::Query>(m.body).args).seq == 4);
    CHECK(krpc::encode(m) == with_seq);
    CHECK(krpc::method_name(Method::Get) == "get");
}

TEST_CASE("BEP 44 put: immutable and mutable queries keep 'v' verbatim, both ways",
          "[krpc][bep44]") {
    // Immutable, "v" a dictionary: kept as its bytes.
    const std::string immutable =
        "d1:ad2:id20:abcdefghij01234567895:token4:tok11:vd1:ai1eee1:q3:put1:t2:aa1:y1:qe";
    krpc::Message m = decode_ok(immutable);
    auto p = std::get<krpc::PutArgs>(std::get<krpc::Query>(m.body).args);
    CHECK_FALSE(p.is_mutable());
    CHECK(p.value == "d1:ai1ee");
    CHECK(p.token == "tok1");
    CHECK(krpc::encode(m) == immutable);
    // Mutable, with BEP 44 test 2's key, salt and signature, and a "cas".
    const std::string sig = unhex(
        "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
        "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");
    const std::string mut = "d1:ad3:casi0e2:id20:abcdefghij01234567891:k32:" + kPublicKey +
                            "4:salt6:foobar3:seqi1e3:sig64:" + sig +
                            "5:token4:tok11:v12:Hello World!e1:q3:put1:t2:aa1:y1:qe";
    m = decode_ok(mut);
    p = std::get<krpc::PutArgs>(std::get<krpc::Query>(m.body).args);
    REQUIRE(p.is_mutable());
    CHECK(p.key == kPublicKey);
    CHECK(p.salt == std::optional<std::string>("foobar"));
    CHECK(p.seq == 1);
    CHECK(p.cas == 0);
    CHECK(p.signature == sig);
    CHECK(p.value == kValue);
    CHECK(krpc::encode(m) == mut);
    CHECK(krpc::method_name(Method::Put) == "put");
}

TEST_CASE("BEP 44 put: incomplete or mistyped arguments are a 203 naming the problem",
          "[krpc][bep44]") {
    auto bad = [](const std::string& args) {
        auto r = krpc::decode("d1:a" + args + "1:q3:put1:t2:aa1:y1:qe");
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == krpc::DecodeFailureKind::BadQuery);
        return r.error().reason;
    };
    const std::string id = "2:id20:abcdefghij0123456789";
    CHECK(bad("d" + id + "5:token1:te") == "missing 'v' in 'a'");
    CHECK(bad("d" + id + "1:k32:" + kPublicKey + "5:token1:t1:v1:xe") ==
          "a mutable put needs 'k', 'seq' and 'sig'");
    CHECK(bad("d" + id + "1:k3:abc3:seqi1e3:sig64:" + std::string(64, 's') + "5:token1:t1:v1:xe") ==
          "'k' in 'a' must be exactly 32 bytes long");
    CHECK(bad("d" + id + "4:salt1:s5:token1:t1:v1:xe") ==
          "'salt' and 'cas' are for mutable items (with 'k')");
    CHECK(bad("d" + id + "1:k32:" + kPublicKey + "3:seqi-1e3:sig64:" + std::string(64, 's') +
              "5:token1:t1:v1:xe") == "'seq' must not be negative");
}

TEST_CASE("BEP 44 get answers: immutable, mutable, seq only; kadnode's items unchanged",
          "[krpc][bep44]") {
    // Immutable: "v" without "k", here an integer.
    std::string bytes = "d1:rd2:id20:abcdefghij01234567895:token1:t1:vi42ee1:t2:aa1:y1:re";
    krpc::Message m = decode_ok(bytes);
    auto r = std::get<krpc::Response>(m.body);
    CHECK_FALSE(r.item);
    REQUIRE(r.data);
    CHECK(r.data->value == std::optional<std::string>("i42e"));
    CHECK_FALSE(r.data->key);
    CHECK(krpc::encode(m) == bytes);
    CHECK(krpc::validate_response(Method::Get, r).empty());
    r.token.reset();
    CHECK(krpc::validate_response(Method::Get, r) == "get response without 'token'");

    // Mutable: "k", "seq", "sig" and "v".
    const std::string sig(64, 's');
    bytes = "d1:rd2:id20:abcdefghij01234567891:k32:" + kPublicKey + "3:seqi3e3:sig64:" + sig +
            "5:token1:t1:v12:Hello World!e1:t2:aa1:y1:re";
    m = decode_ok(bytes);
    r = std::get<krpc::Response>(m.body);
    CHECK_FALSE(r.item);
    REQUIRE(r.data);
    CHECK(r.data->key == kPublicKey);
    CHECK(r.data->seq == 3);
    CHECK(r.data->signature == sig);
    CHECK(r.data->value == kValue);
    CHECK(krpc::encode(m) == bytes);

    // Not newer than the seq asked for: "seq" alone.
    bytes = "d1:rd2:id20:abcdefghij01234567893:seqi3e5:token1:te1:t2:aa1:y1:re";
    m = decode_ok(bytes);
    r = std::get<krpc::Response>(m.body);
    REQUIRE(r.data);
    CHECK(r.data->seq == 3);
    CHECK_FALSE(r.data->value);
    CHECK(krpc::encode(m) == bytes);

    // kadnode's find_value item: "k", "seq" and a string "v", no "sig".
    bytes = "d1:rd2:id20:abcdefghij01234567891:k3:key3:seqi2e5:token1:t1:v5:valuee1:t2:aa1:y1:re";
    m = decode_ok(bytes);
    r = std::get<krpc::Response>(m.body);
    CHECK_FALSE(r.data);
    REQUIRE(r.item);
    CHECK(*r.item == krpc::Item{"key", "value", 2});
    CHECK(krpc::encode(m) == bytes);

    // A malformed "sig" is refused with the answer.
    auto bad = krpc::decode("d1:rd2:id20:abcdefghij01234567893:sig2:xx1:vi1ee1:t2:aa1:y1:re");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().reason == "'sig' in 'r' must be exactly 64 bytes long");
}

// ---- BEP 51 (here beside BEP 44: the other message kadnode added for the BitTorrent DHT) ----

TEST_CASE("BEP 51 sample_infohashes: the query and the answer, both ways", "[krpc][bep51]") {
    const std::string query =
        "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q17:sample_infohashes"
        "1:t2:aa1:y1:qe";
    krpc::Message m = decode_ok(query);
    const auto& q = std::get<krpc::Query>(m.body);
    REQUIRE(q.method() == Method::SampleInfohashes);
    CHECK(std::get<krpc::SampleInfohashesArgs>(q.args).target.raw() == "mnopqrstuvwxyz123456");
    CHECK(krpc::encode(m) == query);
    CHECK(krpc::method_name(Method::SampleInfohashes) == "sample_infohashes");

    const std::string answer =
        "d1:rd2:id20:abcdefghij01234567898:intervali21600e5:nodes0:3:numi2e"
        "7:samples40:aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbe1:t2:aa1:y1:re";
    m = decode_ok(answer);
    const auto& r = std::get<krpc::Response>(m.body);
    REQUIRE(r.samples);
    CHECK(r.samples->interval == 21600);
    CHECK(r.samples->num == 2);
    REQUIRE(r.samples->samples.size() == 2);
    CHECK(r.samples->samples[1].raw() == std::string(20, 'b'));
    CHECK(krpc::encode(m) == answer);
    CHECK(krpc::validate_response(Method::SampleInfohashes, r).empty());
    krpc::Response none = r;
    none.samples.reset();
    CHECK(krpc::validate_response(Method::SampleInfohashes, none) ==
          "sample_infohashes response without 'samples'");
}

TEST_CASE("BEP 51: a partial or malformed sample refuses the answer", "[krpc][bep51]") {
    auto reason = [](const std::string& r) {
        auto m = krpc::decode("d1:rd2:id20:abcdefghij0123456789" + r + "e1:t2:aa1:y1:re");
        REQUIRE_FALSE(m);
        return m.error().reason;
    };
    CHECK(reason("3:numi1e7:samples20:aaaaaaaaaaaaaaaaaaaa") ==
          "a sample in 'r' needs 'interval', 'num' and 'samples'");
    CHECK(reason("8:intervali1e3:numi1e7:samples3:abc") ==
          "'samples' in 'r' must be a multiple of 20 bytes long");
    CHECK(reason("8:intervali-1e3:numi1e7:samples0:") ==
          "'interval' and 'num' in 'r' must not be negative");
    CHECK(reason("8:intervali21601e3:numi1e7:samples0:") ==
          "'interval' in 'r' is over 21600 (BEP 51)");
}

TEST_CASE("BEP 43: 'ro' at the top level, both ways", "[krpc][bep43]") {
    const std::string bytes = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe";
    krpc::Message m = decode_ok(bytes);
    CHECK(m.read_only);
    CHECK(krpc::encode(m) == bytes);
    m = decode_ok("d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi0e1:t2:aa1:y1:qe");
    CHECK_FALSE(m.read_only);
    m = decode_ok("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
    CHECK_FALSE(m.read_only);
    CHECK_FALSE(krpc::decode("d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:ro1:11:t2:aa1:y1:qe"));
}
