#include "shell.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "command_util.hpp"
#include "metrics.hpp"
#include "tokenize.hpp"

namespace kadnode {

namespace {

std::vector<std::string_view> command_names() {
    std::vector<std::string_view> out;
    for (const auto& c : commands()) {
        out.push_back(c.name);
        out.insert(out.end(), c.aliases.begin(), c.aliases.end());
    }
    return out;
}

std::vector<std::string_view> stats_words() {
    std::vector<std::string_view> out = stats_sections();
    out.emplace_back("--all");
    return out;
}

}  // namespace

const std::vector<CommandInfo>& commands() {
    static const std::vector<CommandInfo> kCommands = {
        {"put", "put [--ttl SECONDS] [--seq N] [--trace] <key> <value>",
         "store a value on the k nodes nearest the key",
         "Looks up the k nodes nearest SHA-1(key), then stores the value on each with the token\n"
         "it gave. The value is the rest of the line, or one quoted word. Without --seq the\n"
         "version is one more than the newest seen (the same, if the value is unchanged).\n"
         "--trace prints each query of the lookup as it happens (see ln).\n"
         "How long it lives: each copy lives --ttl seconds (default 24 h; nodes cut a longer\n"
         "one to 7 days). The nodes that hold it republish it every hour, with the life it has\n"
         "left, to keep k copies near the key as nodes come and go. This node, its publisher,\n"
         "puts it again with a fresh TTL when 3/4 of it has passed, for as long as it runs\n"
         "(and across restarts with --state-dir): the value lives until unpublish <key>, or\n"
         "until another writer puts a newer version (its seq is higher; this node then stops).",
         handlers::put},
        {"unpublish", "unpublish <key> | unpublish --item <target>",
         "stop refreshing a value (or BEP 44 item) this node put, so that it expires",
         "The node that put a value refreshes it on its k nearest nodes before its TTL runs\n"
         "out, for as long as it runs (and across restarts with --state-dir); unpublish ends\n"
         "that. The copies expire at the end of the TTL they have, here too; until then they\n"
         "are found as before. --item: a BEP 44 item by its target (bput's hash, mput's target).",
         handlers::unpublish},
        {"get", "get [--trace] <key>", "find a value",
         "An iterative value lookup; prints the value, its seq, and the hops, queries and time it\n"
         "took. --trace prints each query of the lookup as it happens (see ln).",
         handlers::get},
        {"watch", "watch <key>", "print each new version of a key as it appears",
         "Prints each version newer than the last: the one found first, then each newer one.\n"
         "The key's nearest holders tell this node of a new version as it is stored there\n"
         "(listen, notify), so it shows within a round trip; a lookup every 30 seconds renews\n"
         "that and finds what no holder told; a version stored on this node shows at once. At\n"
         "the terminal it runs until Ctrl-C; in a script (--exec, stdin) it returns at once,\n"
         "and each version is an event ({\"event\":\"watch\",\"key\",\"value\",\"seq\",\"from\",\n"
         "\"via\"} with --json; via: notify, lookup or here) beside the later commands, until\n"
         "unwatch <key>.",
         handlers::watch},
        {"unwatch", "unwatch <key>", "stop watching a key (watch in a script)", "",
         handlers::unwatch},
        {"p", "p <ip>:<port> [<id>]", "ping a node",
         "Sends one ping. With an id, the reply must carry it.", handlers::ping},
        {"s", "s <ip>:<port> [<id>] <key> <value>", "store a value on one node",
         "Asks the node for a write token (find_value), then sends it a store. A word of 40 hex\n"
         "digits after the address is the node's id when a key and a value follow it.",
         handlers::store},
        {"fn", "fn <ip>:<port> [<id>] <target-id>", "ask one node for nodes near a target",
         "Sends one find_node and lists the nodes in the reply.", handlers::find_node},
        {"fv", "fv <ip>:<port> [<id>] <key>", "ask one node for a value",
         "Sends one find_value: the node answers with the item, or with nodes nearer the key.",
         handlers::find_value},
        {"ln", "ln [--trace] <target-id>", "iterative node lookup",
         "Finds the k nodes nearest a 40-hex-digit id, nearest first. --trace prints each step\n"
         "as it happens: every query (who, at which log2 distance d from the target, at which\n"
         "depth from our table), its reply (round trip, nodes named and how many were new, a\n"
         "value, a token), soft timeouts (another node is asked meanwhile), timeouts and errors,\n"
         "then the totals; with --json, {\"cmd\":...,\"partial\":true,\"trace\":{...}} per step.",
         handlers::lookup},
        {"lv", "lv [--trace] <key>", "iterative value lookup",
         "Like get, and also says which node answered.", handlers::get},
        {"bootstrap", "bootstrap <ip>:<port> [<id>]", "join the network through a node",
         "Pings the node, looks up our own id, then refreshes the farther buckets.",
         handlers::bootstrap},
        {"gp", "gp <ip>:<port> [<id>] <info-hash>", "BEP 5 get_peers to one node",
         "Sends one get_peers: the node answers with peers of the swarm (values) and nodes\n"
         "nearer the info-hash, and a token.",
         handlers::get_peers},
        {"ap", "ap <ip>:<port> [<id>] <info-hash> [<port>]", "BEP 5 announce_peer to one node",
         "Asks the node for a token (get_peers), then announces this node in the swarm at\n"
         "<port>, or without one at the port its datagrams come from (implied_port).",
         handlers::announce_peer},
        {"announce", "announce <info-hash> [<port>]", "join a swarm on the k nearest nodes",
         "A get_peers lookup of the info-hash, then announce_peer to the k nearest nodes with\n"
         "the tokens they gave (BEP 5). Also lists the peers met on the way.",
         handlers::announce},
        {"peers", "peers [<info-hash>]", "LAN peers; with an info-hash, the peers of a swarm",
         "Without an argument: LAN discovery's view, the nodes that announced themselves and\n"
         "answered a ping. With an info-hash: an iterative get_peers (BEP 5), the peers every\n"
         "node on the way to the k nearest knew of.",
         handlers::peers},
        {"samples", "samples <ip>:<port> [<target-id>]", "BEP 51: info-hashes one node holds",
         "Sends one sample_infohashes: the node answers with how many swarms it holds, a random\n"
         "sample of their info-hashes (the same one for the interval it names), and its nodes\n"
         "nearest the target (default: this node's id).",
         handlers::samples},
        {"bput", "bput <value>", "store an immutable item (BEP 44); prints its hash",
         "Stores the value (the rest of the line) as a bencoded string at the SHA-1 of its\n"
         "bencoding, on the k nodes nearest that hash. Anyone can read it with bget <hash>;\n"
         "nobody can change it.",
         handlers::bput},
        {"bget", "bget <hash>", "find an immutable item (BEP 44)",
         "An iterative get of a 40-hex-digit hash. Each value found is checked against it.",
         handlers::bget},
        {"mput", "mput [--salt S] <value>", "store a mutable item only this node can change",
         "Signs the value with this node's Ed25519 identity (--identity FILE, or identity.pem\n"
         "in --state-dir, made on first use; without either, a key for this run only) at one\n"
         "more than the newest seq found, and stores it on the k nodes nearest SHA-1(public\n"
         "key + salt) (BEP 44). Prints the public key and the target: mget reads it.",
         handlers::mput},
        {"mget", "mget <public-key> [<salt>]", "find a mutable item (BEP 44)",
         "An iterative get at SHA-1(public key + salt): the newest version whose signature\n"
         "checks out. The public key is 64 hex digits.",
         handlers::mget},
        {"fingerprint", "fingerprint", "a short hash of the LAN view, equal on converged nodes",
         "SHA-256 of the sorted ids of the LAN view and this node, 16 hex digits: every node\n"
         "that sees the same LAN prints the same fingerprint.",
         handlers::fingerprint},
        {"id", "id",
         "this node: id, address, uptime, contacts, items, the address it is seen at (BEP 42)", "",
         handlers::id},
        {"rt", "rt", "the routing table, bucket by bucket", "", handlers::rt},
        {"ls", "ls [--limit N|all] [--full] [PATTERN]",
         "the items this node stores: the first 100, or those whose key matches",
         "Lists the items sorted by key, then the BEP 44 items sorted by target, at most N of\n"
         "each (default 100; all, or 0, for every one), and says how many there are in all.\n"
         "PATTERN is a glob (*, ?, [...]) on the key; for BEP 44 items, on the target's 40 hex\n"
         "digits. A long value is cut to fit the terminal's width (to 60 bytes without one), with\n"
         "its size; --full shows it whole, as --json always does. With\n"
         "--limit all each item is printed as it is listed, one line each; with --json, one\n"
         "object per item ({\"cmd\":\"ls\",\"partial\":true,\"item\":{...}}, or \"bep44_item\"),\n"
         "then the result, with the counts and without the lists.",
         handlers::ls},
        {"stats",
         "stats [--all] [SECTION]",
         "what the node has counted, by section",
         "The counters and gauges --metrics serves, in sections: traffic (datagrams, bytes,\n"
         "queries by method), rpc (answers, errors, timeouts, what was dropped and why), lookups,\n"
         "store (values and BEP 44 items, republishes, hand-offs), watch (watches, listens,\n"
         "notifies), swarms (BEP 5, 51), routing (maintenance, probes, BEP 42, implementations),\n"
         "limits (every limit's counter, and what the node holds against each bound) and lan\n"
         "(discovery). With a SECTION, that one only. Zeros are not shown but counted, unless\n"
         "--all; --json has every field.",
         handlers::stats,
         {},
         stats_words},
        {"help",
         "help [command]",
         "list the commands, or describe one",
         "",
         handlers::help,
         {},
         command_names},
        {"quit", "quit", "leave (also: exit, Ctrl-D)", "", handlers::quit, {"exit"}},
    };
    return kCommands;
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render(const Reply& r, bool as_json) {
    if (as_json) {
        if (r.partial && r.data.empty()) return "";
        json j = json::object();
        j["cmd"] = r.cmd;
        if (r.partial) {
            j["partial"] = true;
        } else {
            j["ok"] = r.ok;
            if (!r.ok) {
                j["error"] = r.error;
                j["code"] = r.code;
            }
        }
        for (auto it = r.data.begin(); it != r.data.end(); ++it) j[it.key()] = it.value();
        return dump(j);
    }
    if (!r.ok && !r.partial) return r.cmd.empty() ? "error: " + r.error : r.cmd + ": " + r.error;
    return r.text;
}

Shell::Shell(kad::AsioNode& node, kad::TimePoint started, std::string network)
    : node_(node),
      started_(started),
      network_(std::move(network)),
      identity_([key = std::optional<kad::Ed25519KeyPair>()]() mutable
                -> kad::Expected<kad::Ed25519KeyPair> {
          if (!key) key = kad::generate_identity();  // for this run only
          return *key;
      }) {}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// "'a'", "'a' or 'b'", "'a', 'b' or 'c'".
std::string one_of(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
        out += "'" + std::string(names[i]) + "'";
    }
    return out;
}

// "no command 'x'", with the commands it may have meant.
std::string unknown(std::string_view what, std::string_view word) {
    std::string why = std::string(what) + " '" + std::string(word) + "'";
    const auto similar = similar_commands(lower(word));
    if (!similar.empty()) why += "; did you mean " + one_of(similar) + "?";
    return why;
}

}  // namespace

void Shell::run(std::string_view line, Done done, const Output& output, kad::CancelSignal* cancel,
                std::size_t width) {
    auto words = tokenize(line);
    if (!words) return done(fail("", words.error()));
    if (words->empty() || words->front().text.starts_with('#')) {
        Reply blank;
        blank.blank = true;
        return done(blank);
    }
    Args a{line, std::move(*words)};
    const std::string typed = a.words[0].text;
    std::string cmd = lower(typed);  // commands are case-insensitive; their arguments are not
    const CommandInfo* info = find_command(cmd);
    if (!info) {
        return done(fail(typed, unknown("unknown command", typed) + " (type help for the list)",
                         "unknown_command"));
    }
    // What the command starts on the network, Ctrl-C (the signal) cancels.
    std::optional<kad::AsioNode::CancelScope> scope;
    if (cancel) scope.emplace(node_, *cancel);
    info->run(
        Call{std::move(cmd), std::move(a), node_, *this, output, std::move(done), width, cancel});
}

std::vector<std::string> completions(std::string_view line, std::size_t start) {
    std::vector<std::string> out;
    if (start > line.size()) return out;
    const std::string prefix = lower(line.substr(start));
    auto offer = [&](const std::vector<std::string_view>& words) {
        for (const auto w : words) {
            if (w.starts_with(prefix)) out.emplace_back(w);
        }
        return out;
    };
    auto before = tokenize(line.substr(0, start));
    if (!before) return out;  // inside an open quote
    if (before->empty()) return offer(command_names());
    const CommandInfo* info = find_command(lower(before->front().text));
    if (!info || !info->completes) return out;
    if (info->completes == command_names && before->size() > 1) return out;  // help takes one
    return offer(info->completes());
}

// ---- the shell's own commands -------------------------------------------------------------------

void handlers::help(const Call& c) {
    const Args& a = c.a;
    if (a.size() > 1) return c.usage();
    if (a.size() == 1) {
        const CommandInfo* info = find_command(lower(a[0]));
        if (!info) return c.refuse(unknown("no command", a[0]));
        std::string text = "usage: " + std::string(info->usage) + "\n" + std::string(info->summary);
        if (!info->detail.empty()) text += "\n" + std::string(info->detail);
        json data = {{"usage", info->usage}, {"summary", info->summary}};
        if (!info->aliases.empty()) {
            json aliases = json::array();
            for (const auto alias : info->aliases) aliases.push_back(alias);
            data["aliases"] = aliases;
        }
        return c.done(ok(c.cmd, text, data));
    }
    std::string text = "commands:";
    json list = json::array();
    for (const auto& cmd : commands()) {
        std::string u(cmd.usage);
        u.resize(std::max<std::size_t>(u.size(), 44), ' ');
        text += "\n  " + u + " " + std::string(cmd.summary);
        list.push_back({{"usage", cmd.usage}, {"summary", cmd.summary}});
    }
    text +=
        "\nkeys are strings (the DHT key is their SHA-1); ids are 40 hex digits;"
        "\nwords split as in a shell: \"a b\", 'a b', a\\ b; command names in any case;"
        "\nhelp <command> for one command's details.";
    c.done(ok(c.cmd, text, {{"commands", list}}));
}

void handlers::quit(const Call& c) {
    if (c.a.size() != 0) return c.usage();
    Reply r = ok(c.cmd, "bye");
    r.quit = true;
    c.done(r);
}

}  // namespace kadnode
