// kadnode's command table (repl/shell.hpp): one row per command, dispatched case-insensitively,
// with Tab completion and "did you mean" made from the rows. A node on 127.0.0.1 runs the
// commands that need one; none here sends a datagram.

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <set>

#include "command_util.hpp"
#include "metrics.hpp"
#include "shell.hpp"

using namespace kadnode;

namespace {

struct ShellOnNode {
    boost::asio::io_context io;
    kad::AsioNode node;
    Shell shell;
    ShellOnNode()
        : node(io,
               [] {
                   kad::RuntimeConfig c;
                   c.bind = *kad::Endpoint::parse("127.0.0.1:0");
                   return c;
               }()),
          shell(node, kad::Clock::now(), "test") {}
};

// Runs one line and returns its reply (a put here, with no contacts, completes on its own).
Reply run(ShellOnNode& t, std::string_view line) {
    std::optional<Reply> out;
    t.shell.run(line, [&](Reply r) { out = std::move(r); });
    t.io.restart();
    for (int i = 0; i < 100 && !out; ++i) t.io.run_one_for(std::chrono::milliseconds(10));
    REQUIRE(out);
    return *out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("every command has one row with a handler; no name or alias is taken twice", "[shell]") {
    std::set<std::string_view> names;
    for (const auto& c : commands()) {
        CHECK(c.run != nullptr);
        CHECK(c.usage.starts_with(c.name));
        CHECK(names.insert(c.name).second);
        for (const auto alias : c.aliases) CHECK(names.insert(alias).second);
    }
    CHECK(find_command("exit") == find_command("quit"));
    CHECK(find_command("nonsense") == nullptr);
}

TEST_CASE("Tab completes command names, and command names after help", "[shell]") {
    CHECK(completions("", 0).size() == commands().size() + 1);  // and the alias exit
    CHECK(completions("sta", 0) == std::vector<std::string>{"stats"});
    CHECK(completions("STA", 0) == std::vector<std::string>{"stats"});
    const auto after_help = completions("help g", 5);
    CHECK(contains(after_help, "get"));
    CHECK(contains(after_help, "gp"));
    CHECK_FALSE(contains(after_help, "put"));
    CHECK(completions("help ", 5).size() == commands().size() + 1);
    CHECK(completions("get g", 4).empty());       // a key: nothing to offer
    CHECK(completions("help get p", 9).empty());  // help takes one word
    CHECK(completions("help \"g", 5).empty());    // inside a quote
}

TEST_CASE("similar_commands finds slips of the finger and beginnings", "[shell]") {
    auto similar = [](std::string_view s) {
        const auto v = similar_commands(s);
        return std::set<std::string_view>(v.begin(), v.end());
    };
    CHECK(similar("gte").contains("get"));     // two letters swapped
    CHECK(similar("stat").contains("stats"));  // a beginning
    CHECK(similar("boostrap").contains("bootstrap"));
    CHECK(similar("xyzzy").empty());
}

TEST_CASE("commands are case-insensitive; their arguments are not", "[shell]") {
    ShellOnNode t;
    const Reply id = run(t, "ID");
    CHECK(id.ok);
    CHECK(id.cmd == "id");
    const Reply help = run(t, "Help PUT");
    CHECK(help.ok);
    CHECK(help.data["usage"] == "put [--ttl SECONDS] [--seq N] [--trace] <key> <value>");
    const Reply exit = run(t, "help exit");
    REQUIRE(exit.ok);
    CHECK(exit.data["aliases"] == nlohmann::ordered_json::array({"exit"}));
    // A key keeps its case: ls finds "Key" by the pattern "Key", not "key".
    REQUIRE(run(t, "PUT Key v").ok);
    CHECK(run(t, "ls Key").data["items_matched"] == 1);
    CHECK(run(t, "ls key").data["items_matched"] == 0);
}

TEST_CASE("an unknown command or help topic names the commands it may have meant", "[shell]") {
    ShellOnNode t;
    const Reply r = run(t, "gte k");
    CHECK_FALSE(r.ok);
    CHECK(r.code == "unknown_command");
    CHECK(r.error == "unknown command 'gte'; did you mean 'get'? (type help for the list)");
    CHECK(run(t, "frobnicate").error == "unknown command 'frobnicate' (type help for the list)");
    const Reply h = run(t, "help boostrap");
    CHECK(h.code == "bad_argument");
    CHECK(h.error == "no command 'boostrap'; did you mean 'bootstrap'?");
}

TEST_CASE("a bad argument is refused with the reason and the code bad_argument", "[shell]") {
    ShellOnNode t;
    const Reply p = run(t, "p nowhere");
    CHECK(p.code == "bad_argument");
    CHECK(p.error.starts_with("bad address"));
    CHECK(run(t, "fn 127.0.0.1:1 123").error.starts_with("bad target id '123'"));
    CHECK(run(t, "put --ttl 0 k v").error ==
          "bad --ttl '0': expected a whole number from 1 to 31536000");
    CHECK(run(t, "ap 127.0.0.1:1 " + std::string(40, 'a') + " 70000").error ==
          "bad port '70000': expected a whole number from 1 to 65535");
    CHECK(run(t, "mget abc").error == "bad public key 'abc': expected 64 hex digits");
    CHECK(run(t, "ls --limit x").error.starts_with("bad --limit 'x'"));
    CHECK(run(t, "quit now").error == "usage: quit");
    // A mistyped address is refused, not looked up as a name.
    for (const char* line : {"p 999.1.1.1:80", "p 10.0.0.300:1", "p 127.1:4000"}) {
        INFO(line);
        const Reply r = run(t, line);
        CHECK(r.code == "bad_argument");
        CHECK(r.error.find("not an IP address") != std::string::npos);
    }
    CHECK(run(t, "exit now").error == "usage: quit");
}

TEST_CASE("every metric is in a stats section", "[shell][stats]") {
    ShellOnNode t;
    for (const auto& m : collect_metrics(t.node)) {
        INFO(m.name);
        CHECK(std::find(stats_sections().begin(), stats_sections().end(), m.section) !=
              stats_sections().end());
    }
}

TEST_CASE("stats shows a section, hides zeros unless --all, and JSON keeps every field",
          "[shell][stats]") {
    ShellOnNode t;
    const Reply fresh = run(t, "stats");
    REQUIRE(fresh.ok);
    CHECK(fresh.text.starts_with("nothing counted yet\n("));
    CHECK(fresh.text.find("zeros not shown: stats --all)") != std::string::npos);
    CHECK(fresh.data.contains("packets_in"));
    CHECK(fresh.data["packets_in"] == 0);
    CHECK(fresh.data.contains("lan_received") == false);  // discovery is off: no such metric

    const Reply traffic = run(t, "stats --all traffic");
    REQUIRE(traffic.ok);
    CHECK(traffic.text.starts_with("traffic\n  packets_in "));
    CHECK(traffic.text.find("queries_in                ping: 0, find_node: 0") !=
          std::string::npos);
    CHECK(traffic.text.find("rpc") == std::string::npos);
    CHECK(traffic.data.contains("packets_in"));
    CHECK_FALSE(traffic.data.contains("responses_in"));  // another section's

    // A put with no contacts stores here: the limits section shows what is held.
    REQUIRE(run(t, "put k v").ok);
    const Reply limits = run(t, "stats limits");
    CHECK(limits.text.find("held values               1 of ") != std::string::npos);
    CHECK(limits.text.find("held contacts") == std::string::npos);  // 0: hidden

    CHECK(run(t, "stats bogus").error ==
          "no section 'bogus' (sections: traffic, rpc, lookups, store, watch, swarms, routing, "
          "limits, lan)");
    CHECK(run(t, "stats rpc lookups").error == "usage: stats [--all] [SECTION]");
    CHECK(completions("stats l", 6) == std::vector<std::string>{"lookups", "limits", "lan"});
    CHECK(completions("stats --a", 6) == std::vector<std::string>{"--all"});
}

TEST_CASE("unpublish stops refreshing a value this node put, and says when it expires",
          "[shell][unpublish]") {
    ShellOnNode t;
    REQUIRE(run(t, "put --ttl 600 colour blue").ok);
    CHECK(run(t, "ls colour").text.find("published here") != std::string::npos);
    const Reply r = run(t, "unpublish colour");
    REQUIRE(r.ok);
    CHECK(r.text.starts_with("\"colour\" is no longer refreshed: it expires in 9m"));
    CHECK(r.data["key"] == "colour");
    CHECK(r.data["expires_in_s"] > 590);
    CHECK(run(t, "ls colour").text.find("published here") == std::string::npos);
    CHECK(run(t, "get colour").ok);  // still there until it expires

    const Reply again = run(t, "unpublish colour");
    CHECK(again.code == "not_found");
    CHECK(again.error == "\"colour\" is not published by this node");
    CHECK(run(t, "unpublish --item xyz").error.starts_with("bad target 'xyz'"));
    CHECK(run(t, "unpublish").error == "usage: unpublish <key> | unpublish --item <target>");
    CHECK(run(t, "unpublish --bogus").code == "bad_argument");

    const Reply item = run(t, "bput hello");  // alone: it fails, kept on this node only
    REQUIRE(item.data["stored_locally"] == true);
    const std::string target = item.data["target"];
    const Reply u = run(t, "unpublish --item " + target);
    REQUIRE(u.ok);
    CHECK(u.text.starts_with("BEP 44 item " + target + " is no longer refreshed"));
    CHECK(run(t, "help put").text.find("lives until unpublish <key>") != std::string::npos);
}

TEST_CASE("a quoted value is cut by the columns it takes, escapes whole", "[shell][ls]") {
    CHECK(quoted_width("abc") == 5);
    CHECK(quoted_width("a\x01") == 7);              // "a\x01"
    CHECK(quoted_width("\xc3\xa9t\xc3\xa9") == 5);  // "été": three columns, five bytes
    CHECK(quote_cut("abc", 3) == "\"abc\"");
    CHECK(quote_cut("abcd", 3) == "\"abc\"… (4 bytes)");
    // Control bytes take four columns each: three fit in 12, never half of one.
    const std::string controls(10, '\x01');
    CHECK(quote_cut(controls, 13) == "\"\\x01\\x01\\x01\"… (10 bytes)");
    // Never half a UTF-8 character.
    CHECK(quote_cut("\xc3\xa9\xc3\xa9\xc3\xa9", 2) == "\"\xc3\xa9\xc3\xa9\"… (6 bytes)");
}

TEST_CASE("ls keeps a line of control bytes within the terminal's width", "[shell][ls]") {
    ShellOnNode t;
    REQUIRE(run(t, "put bin " + std::string(300, '\x01')).ok);
    std::optional<Reply> out;
    t.shell.run(
        "ls bin", [&](Reply r) { out = std::move(r); }, nullptr, 80);
    t.io.restart();
    for (int i = 0; i < 100 && !out; ++i) t.io.run_one_for(std::chrono::milliseconds(10));
    REQUIRE(out);
    const std::string text = render(*out, false);
    bool seen = false;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        if (line.find("\"bin\" = ") != std::string_view::npos) {
            INFO(line);
            seen = true;
            // The ellipsis is three bytes and one column.
            CHECK(line.size() - 2 <= 80);
            CHECK(line.size() - 2 > 60);  // it uses the room there is
        }
        start = end + 1;
    }
    CHECK(seen);
}
