// The control socket's wire format (repl/control_protocol.hpp): framing, the byte-safe strings,
// requests and frames both ways, and kadnode-cli's words into one command line.

#include <catch2/catch.hpp>
#include <random>

#include "control_protocol.hpp"
#include "tokenize.hpp"

using namespace kadnode;
using namespace kadnode::control;

TEST_CASE("valid_utf8 accepts UTF-8 and nothing else", "[control]") {
    CHECK(valid_utf8(""));
    CHECK(valid_utf8("plain ascii"));
    CHECK(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK_FALSE(valid_utf8("\xff"));
    CHECK_FALSE(valid_utf8("\xc3"));                 // cut short
    CHECK_FALSE(valid_utf8("\xc3\x28"));             // not a continuation byte
    CHECK_FALSE(valid_utf8("\xc0\xaf"));             // overlong
    CHECK_FALSE(valid_utf8("\xed\xa0\x80"));         // a surrogate
    CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));     // past U+10FFFF
    CHECK(valid_utf8(std::string("nul\0byte", 8)));  // NUL is a character
}

TEST_CASE("base64 round-trips every byte string", "[control]") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
    std::mt19937 rng(7);
    for (std::size_t n = 0; n < 300; ++n) {
        std::string bytes(n, '\0');
        for (auto& c : bytes) c = static_cast<char>(rng() & 0xff);
        const auto back = base64_decode(base64_encode(bytes));
        REQUIRE(back);
        CHECK(*back == bytes);
    }
    CHECK_FALSE(base64_decode("abc"));   // not a multiple of 4
    CHECK_FALSE(base64_decode("ab!d"));  // not the alphabet
    CHECK_FALSE(base64_decode("a==="));  // too much padding
}

TEST_CASE("put_bytes keeps every byte, as text when it can", "[control]") {
    json j = json::object();
    put_bytes(j, "text", "caf\xc3\xa9");
    CHECK(j.contains("text"));
    put_bytes(j, "line", "k\xff\x00v");
    CHECK_FALSE(j.contains("line"));
    CHECK(j.contains("line_b64"));
    const json back = json::parse(dump(j));
    CHECK(get_bytes(back, "text") == std::optional<std::string>("caf\xc3\xa9"));
    CHECK(get_bytes(back, "line") == std::optional<std::string>("k\xff\x00v"));
    CHECK_FALSE(get_bytes(back, "other"));
}

TEST_CASE("requests round-trip, and a bad one says why", "[control]") {
    const std::string binary = std::string("put k\xff ") + '\x01' + "v\xfe";
    for (const std::string& line : {std::string("get greeting"), binary, std::string()}) {
        const std::string wire = encode_request({Request::Kind::Command, line});
        REQUIRE(wire.back() == '\n');
        REQUIRE(wire.find('\n') == wire.size() - 1);  // one line, whatever the bytes
        CHECK(valid_utf8(wire));
        auto r = parse_request(std::string_view(wire).substr(0, wire.size() - 1));
        REQUIRE(r);
        CHECK(r->kind == Request::Kind::Command);
        CHECK(r->line == line);
    }
    auto e = parse_request(encode_request({Request::Kind::Events, {}}));
    REQUIRE(e);
    CHECK(e->kind == Request::Kind::Events);
    auto cancel = parse_request(encode_request({Request::Kind::Cancel, {}}));
    REQUIRE(cancel);
    CHECK(cancel->kind == Request::Kind::Cancel);
    CHECK(parse_request(R"({"line":"id","extra":1})"));  // unknown fields are ignored

    CHECK_FALSE(parse_request("get greeting"));
    CHECK_FALSE(parse_request("[1,2]"));
    CHECK_FALSE(parse_request("{}"));
    CHECK_FALSE(parse_request(R"({"line":42})"));
    CHECK_FALSE(parse_request(R"({"line_b64":"!!!!"})"));
    CHECK_FALSE(parse_request(R"({"events":false})"));
    CHECK_FALSE(parse_request(R"({"cancel":"yes"})"));
    // A terminal's width travels with a command.
    auto wide = parse_request(encode_request({Request::Kind::Command, "ls", 132}));
    REQUIRE(wide);
    CHECK(wide->width == 132);
    CHECK(parse_request(R"({"line":"ls"})")->width == 0);
    CHECK_FALSE(parse_request(R"({"line":"ls","width":-1})"));
    CHECK_FALSE(parse_request(R"({"line":"ls","width":"wide"})"));
    CHECK_FALSE(parse_request(R"({"line":"ls","width":100000})"));
    CHECK_FALSE(parse_request("{\"line\":\"\xff\"}"));  // JSON text must be UTF-8
}

namespace {

Reply sample(bool partial, bool ok) {
    Reply r;
    r.cmd = "get";
    r.ok = ok;
    r.partial = partial;
    r.text = "\"v\xfe\" (seq 3)";  // a person's text keeps the value's bytes
    r.data = {{"value", "v\xfe"}, {"seq", 3}, {"rtt_ms", 0.125}, {"nodes", json::array({1, 2})}};
    if (!ok) {
        r.error = "not found";
        r.code = "not_found";
    }
    return r;
}

}  // namespace

TEST_CASE("replies round-trip and render as the node renders them", "[control]") {
    for (const bool partial : {false, true}) {
        for (const bool ok : {false, true}) {
            const Reply r = sample(partial, ok);
            const std::string wire = encode_reply(r);
            REQUIRE(wire.find('\n') == wire.size() - 1);
            auto f = parse_frame(std::string_view(wire).substr(0, wire.size() - 1));
            REQUIRE(f);
            CHECK(f->type == (partial ? Frame::Type::Partial : Frame::Type::Reply));
            CHECK(f->reply.text == r.text);
            CHECK(f->reply.partial == partial);
            CHECK(render(f->reply, false) == render(r, false));
            // The JSON a client prints is what kadnode --json prints (bytes that are not UTF-8
            // replaced the same way).
            CHECK(render(f->reply, true) == render(r, true));
        }
    }
    Reply quit;
    quit.cmd = "quit";
    quit.ok = true;
    quit.quit = true;
    quit.text = "bye";
    auto f = parse_frame(encode_reply(quit));
    REQUIRE(f);
    CHECK(f->reply.quit);
    CHECK(f->reply.ok);
    Reply blank;
    blank.ok = true;
    blank.blank = true;
    f = parse_frame(encode_reply(blank));
    REQUIRE(f);
    CHECK(f->reply.blank);
    CHECK(render(f->reply, false).empty());
}

TEST_CASE("hello, events and errors", "[control]") {
    auto h = parse_frame(encode_hello({{"id", "ab"}, {"version", "0.1.0"}}));
    REQUIRE(h);
    CHECK(h->type == Frame::Type::Hello);
    CHECK(h->data["id"] == "ab");

    const json fields = {{"store", "values"}, {"key", "k\xff"}, {"seq", 2}};
    auto e = parse_frame(encode_event("superseded", fields, "superseded: key \"k\xff\""));
    REQUIRE(e);
    CHECK(e->type == Frame::Type::Event);
    CHECK(e->text == "superseded: key \"k\xff\"");
    json expected = {{"event", "superseded"}};
    for (auto it = fields.begin(); it != fields.end(); ++it) expected[it.key()] = it.value();
    CHECK(render_event(*e, true) == dump(expected));
    CHECK(render_event(*e, false) == e->text);

    auto err = parse_frame(encode_error("permission_denied", "no"));
    REQUIRE(err);
    CHECK(err->type == Frame::Type::Error);
    CHECK(err->code == "permission_denied");
    CHECK(err->error == "no");

    CHECK_FALSE(parse_frame("{\"type\":\"what\"}"));
    CHECK_FALSE(parse_frame("nonsense"));
}

TEST_CASE("LineSplitter: lines across reads, bounded", "[control]") {
    LineSplitter s(10);
    CHECK(s.feed("ab"));
    CHECK_FALSE(s.next());
    CHECK(s.feed("c\r\nde\nf"));
    CHECK(s.next() == std::optional<std::string>("abc"));
    CHECK(s.next() == std::optional<std::string>("de"));
    CHECK_FALSE(s.next());
    CHECK(s.feed("g\n\n"));
    CHECK(s.next() == std::optional<std::string>("fg"));
    CHECK(s.next() == std::optional<std::string>(""));
    CHECK_FALSE(s.next());
    CHECK(s.feed("0123456789\ntail"));  // exactly max: fine
    CHECK(s.next() == std::optional<std::string>("0123456789"));
    CHECK(s.rest() == "tail");
    CHECK_FALSE(s.next());

    // Many lines in one read, taken a few at a time while more arrive.
    LineSplitter many(100);
    std::string chunk;
    for (int i = 0; i < 1000; ++i) chunk += std::to_string(i) + "\n";
    REQUIRE(many.feed(chunk));
    for (int i = 0; i < 1000; ++i) {
        if (i == 500) REQUIRE(many.feed("1000\n"));
        REQUIRE(many.next() == std::optional<std::string>(std::to_string(i)));
    }
    CHECK(many.next() == std::optional<std::string>("1000"));

    LineSplitter unterminated(10);
    CHECK_FALSE(unterminated.feed("0123456789a"));  // more than max, no newline yet
    CHECK_FALSE(unterminated.next());
    CHECK_FALSE(unterminated.feed("\n"));  // and stays refused

    LineSplitter whole(10);
    CHECK_FALSE(whole.feed("ok\n0123456789abc\nok\n"));  // a complete line too long
}

TEST_CASE("join_words: the shell's words reach the command as they were", "[control]") {
    CHECK(join_words({"put k v"}) == "put k v");  // one argument: the line itself
    CHECK(join_words({"get", "greeting"}) == "get greeting");
    CHECK(join_words({"ls", "--limit", "all", "g*"}) == "ls --limit all g*");
    const std::vector<std::string> words = {
        "put",   "it's",   "two  spaces", "",         "a\"b", "back\\slash",
        "$HOME", "tab\tx", "caf\xc3\xa9", "\xff\xfe", "'",    "#not a comment"};
    const std::string line = join_words(words);
    auto split = tokenize(line);
    REQUIRE(split);
    REQUIRE(split->size() == words.size());
    for (std::size_t i = 0; i < words.size(); ++i) CHECK((*split)[i].text == words[i]);
}
