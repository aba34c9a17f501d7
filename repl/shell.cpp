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

const std::vector<CommandInfo>& commands() {
    static const std::vector<CommandInfo> kCommands = {
        {"put", "put [--ttl SECONDS] [--seq N] [--trace] <key> <value>",
         "store a value on the k nodes nearest the key",
         "Looks up the k nodes nearest SHA-1(key), then stores the value on each with the token\n"
         "it gave. The value is the rest of the line, or one quoted word. Without --seq the\n"
         "version is one more than the newest seen (the same, if the value is unchanged).\n"
         "--trace prints each query of the lookup as it happens (see ln)."},
        {"get", "get [--trace] <key>", "find a value",
         "An iterative value lookup; prints the value, its seq, and the hops, queries and time it\n"
         "took. --trace prints each query of the lookup as it happens (see ln)."},
        {"p", "p <ip>:<port> [<id>]", "ping a node",
         "Sends one ping. With an id, the reply must carry it."},
        {"s", "s <ip>:<port> [<id>] <key> <value>", "store a value on one node",
         "Asks the node for a write token (find_value), then sends it a store. A word of 40 hex\n"
         "digits after the address is the node's id when a key and a value follow it."},
        {"fn", "fn <ip>:<port> [<id>] <target-id>", "ask one node for nodes near a target",
         "Sends one find_node and lists the nodes in the reply."},
        {"fv", "fv <ip>:<port> [<id>] <key>", "ask one node for a value",
         "Sends one find_value: the node answers with the item, or with nodes nearer the key."},
        {"ln", "ln [--trace] <target-id>", "iterative node lookup",
         "Finds the k nodes nearest a 40-hex-digit id, nearest first. --trace prints each step\n"
         "as it happens: every query (who, at which log2 distance d from the target, at which\n"
         "depth from our table), its reply (round trip, nodes named and how many were new, a\n"
         "value, a token), soft timeouts (another node is asked meanwhile), timeouts and errors,\n"
         "then the totals; with --json, {\"cmd\":...,\"partial\":true,\"trace\":{...}} per step."},
        {"lv", "lv [--trace] <key>", "iterative value lookup",
         "Like get, and also says which node answered."},
        {"bootstrap", "bootstrap <ip>:<port> [<id>]", "join the network through a node",
         "Pings the node, looks up our own id, then refreshes the farther buckets."},
        {"gp", "gp <ip>:<port> [<id>] <info-hash>", "BEP 5 get_peers to one node",
         "Sends one get_peers: the node answers with peers of the swarm (values) and nodes\n"
         "nearer the info-hash, and a token."},
        {"ap", "ap <ip>:<port> [<id>] <info-hash> [<port>]", "BEP 5 announce_peer to one node",
         "Asks the node for a token (get_peers), then announces this node in the swarm at\n"
         "<port>, or without one at the port its datagrams come from (implied_port)."},
        {"announce", "announce <info-hash> [<port>]", "join a swarm on the k nearest nodes",
         "A get_peers lookup of the info-hash, then announce_peer to the k nearest nodes with\n"
         "the tokens they gave (BEP 5). Also lists the peers met on the way."},
        {"peers", "peers [<info-hash>]", "LAN peers; with an info-hash, the peers of a swarm",
         "Without an argument: LAN discovery's view, the nodes that announced themselves and\n"
         "answered a ping. With an info-hash: an iterative get_peers (BEP 5), the peers every\n"
         "node on the way to the k nearest knew of."},
        {"samples", "samples <ip>:<port> [<target-id>]", "BEP 51: info-hashes one node holds",
         "Sends one sample_infohashes: the node answers with how many swarms it holds, a random\n"
         "sample of their info-hashes (the same one for the interval it names), and its nodes\n"
         "nearest the target (default: this node's id)."},
        {"bput", "bput <value>", "store an immutable item (BEP 44); prints its hash",
         "Stores the value (the rest of the line) as a bencoded string at the SHA-1 of its\n"
         "bencoding, on the k nodes nearest that hash. Anyone can read it with bget <hash>;\n"
         "nobody can change it."},
        {"bget", "bget <hash>", "find an immutable item (BEP 44)",
         "An iterative get of a 40-hex-digit hash. Each value found is checked against it."},
        {"mput", "mput [--salt S] <value>", "store a mutable item only this node can change",
         "Signs the value with this node's Ed25519 identity (--identity FILE, or identity.pem\n"
         "in --state-dir, made on first use; without either, a key for this run only) at one\n"
         "more than the newest seq found, and stores it on the k nodes nearest SHA-1(public\n"
         "key + salt) (BEP 44). Prints the public key and the target: mget reads it."},
        {"mget", "mget <public-key> [<salt>]", "find a mutable item (BEP 44)",
         "An iterative get at SHA-1(public key + salt): the newest version whose signature\n"
         "checks out. The public key is 64 hex digits."},
        {"fingerprint", "fingerprint", "a short hash of the LAN view, equal on converged nodes",
         "SHA-256 of the sorted ids of the LAN view and this node, 16 hex digits: every node\n"
         "that sees the same LAN prints the same fingerprint."},
        {"id", "id",
         "this node: id, address, uptime, contacts, items, the address it is seen at (BEP 42)", ""},
        {"rt", "rt", "the routing table, bucket by bucket", ""},
        {"ls", "ls [--limit N|all] [PATTERN]",
         "the items this node stores: the first 100, or those whose key matches",
         "Lists the items sorted by key, then the BEP 44 items sorted by target, at most N of\n"
         "each (default 100; all, or 0, for every one), and says how many there are in all.\n"
         "PATTERN is a glob (*, ?, [...]) on the key; for BEP 44 items, on the target's 40 hex\n"
         "digits. Values longer than 60 bytes are cut, with their size (not with --json). With\n"
         "--limit all each item is printed as it is listed, one line each; with --json, one\n"
         "object per item ({\"cmd\":\"ls\",\"partial\":true,\"item\":{...}}, or \"bep44_item\"),\n"
         "then the result, with the counts and without the lists."},
        {"stats", "stats", "packets, queries, timeouts, lookups and stores so far", ""},
        {"help", "help [command]", "list the commands, or describe one", ""},
        {"quit", "quit", "leave (also: exit, Ctrl-D)", ""},
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

void Shell::run(std::string_view line, Done done, const Output& output, kad::CancelSignal* cancel) {
    auto words = tokenize(line);
    if (!words) return done(fail("", words.error()));
    if (words->empty() || words->front().text.starts_with('#')) {
        Reply blank;
        blank.blank = true;
        return done(blank);
    }
    Args a{line, std::move(*words)};
    const std::string cmd = a.words[0].text;
    std::optional<kad::AsioNode::CancelScope> scope;
    if (cancel) scope.emplace(node_, *cancel);

    try {
        if (cmd == "help") {
            if (a.size() > 1) usage_error(cmd);
            if (a.size() == 1) {
                const CommandInfo* info = find_command(a[0]);
                if (!info) throw BadArgument("no command '" + a[0] + "'");
                std::string text =
                    "usage: " + std::string(info->usage) + "\n" + std::string(info->summary);
                if (!info->detail.empty()) text += "\n" + std::string(info->detail);
                return done(ok(cmd, text, {{"usage", info->usage}, {"summary", info->summary}}));
            }
            std::string text = "commands:";
            json list = json::array();
            for (const auto& c : commands()) {
                std::string u(c.usage);
                u.resize(std::max<std::size_t>(u.size(), 44), ' ');
                text += "\n  " + u + " " + std::string(c.summary);
                list.push_back({{"usage", c.usage}, {"summary", c.summary}});
            }
            text +=
                "\nkeys are strings (the DHT key is their SHA-1); ids are 40 hex digits;"
                "\nwords split as in a shell: \"a b\", 'a b', a\\ b.";
            return done(ok(cmd, text, {{"commands", list}}));
        }

        if (cmd == "quit" || cmd == "exit") {
            if (a.size() != 0) usage_error("quit");
            Reply r = ok(cmd, "bye");
            r.quit = true;
            return done(r);
        }

        if (cmd == "id") {
            if (a.size() != 0) usage_error(cmd);
            const auto& n = node_.node();
            const auto uptime = kad::Clock::now() - started_;
            json data = {
                {"id", node_.id().to_hex()},
                {"addr", node_.local_endpoint().to_string()},
                {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
                {"contacts", n.routing_table().size()},
                {"items", n.storage().size()},
                {"joined", n.joined()},
                {"network", network_}};
            const auto probe = node_.probe_endpoint();
            data["probe_addr"] = probe ? json(probe->to_string()) : json(nullptr);
            std::string text = "id        " + node_.id().to_hex() + "\naddress   " +
                               node_.local_endpoint().to_string() +
                               (probe ? " (probes from port " + std::to_string(probe->port()) + ")"
                                      : std::string()) +
                               "\nuptime    " + span_text(uptime) + "\ncontacts  " +
                               std::to_string(n.routing_table().size()) + "\nitems     " +
                               std::to_string(n.storage().size()) + "\nnetwork   " + network_;
            // BEP 42: the address responders agree on, and whether our ID matches it.
            const auto& voter = n.address_voter();
            data["external_votes"] = voter.agreed_votes();
            if (n.external_address()) {
                const auto cls = kad::bep42::classify(n.id(), *n.external_address());
                data["external_addr"] = n.external_address()->to_string();
                data["id_bep42"] = kad::bep42::to_string(cls);
                text += "\nseen as   " + n.external_address()->to_string() + " (" +
                        plural(voter.agreed_votes(), "responder agrees", "responders agree") +
                        "; the id is " + kad::bep42::to_string(cls) + ", BEP 42)";
            } else {
                text += "\nseen as   not agreed yet (" +
                        plural(voter.total_votes(), "responder has", "responders have") + " said)";
            }
            return done(ok(cmd, text, data));
        }

        if (cmd == "rt") {
            if (a.size() != 0) usage_error(cmd);
            const auto& n = node_.node();
            const auto& t = n.routing_table();
            const auto now = kad::Clock::now();
            json buckets = json::array();
            std::string text = plural(t.size(), "contact", "contacts") + " in " +
                               plural(t.bucket_count(), "bucket", "buckets");
            for (std::size_t i = 0; i < t.bucket_count(); ++i) {
                const auto& b = t.bucket(i);
                const bool last = i + 1 == t.bucket_count();
                json contacts = json::array();
                // Bucket i holds IDs sharing exactly i leading bits with ours; the last one,
                // i or more (it splits as it fills).
                text += "\nbucket " + std::to_string(i) + " (" +
                        (last ? std::to_string(i) + " or more shared bits"
                              : plural(i, "shared bit", "shared bits")) +
                        "): " + plural(b.contacts().size(), "contact", "contacts") + ", " +
                        std::to_string(b.replacements().size()) + " cached";
                for (const auto& c : b.contacts()) {
                    json cj = {{"id", c.id.to_hex()},
                               {"addr", c.endpoint.to_string()},
                               {"last_seen_s",
                                std::chrono::duration_cast<std::chrono::seconds>(now - c.last_seen)
                                    .count()},
                               {"failures", c.failures}};
                    const auto cls = kad::bep42::classify(c.id, c.endpoint);
                    cj["bep42"] = kad::bep42::to_string(cls);
                    text += "\n  " + c.id.to_hex() + "  " + c.endpoint.to_string() + "  seen " +
                            span_text(now - c.last_seen) + " ago";
                    if (cls == kad::bep42::IdClass::NonConforming) text += ", id not BEP 42";
                    // Which implementation answers there ("v"); shown in text when not ours.
                    const std::string_view v = n.client_versions().of(c.id);
                    cj["client"] = kad::describe_client(v);
                    if (v != n.config().version) text += ", client " + kad::describe_client(v);
                    if (c.srtt) {
                        cj["rtt_ms"] = ms(*c.srtt);
                        text += ", rtt " + ms_text(*c.srtt);
                    }
                    if (c.failures) text += ", " + plural(c.failures, "failure", "failures");
                    contacts.push_back(cj);
                }
                buckets.push_back(
                    {{"index", i}, {"contacts", contacts}, {"cached", b.replacements().size()}});
            }
            return done(ok(cmd, text, {{"contacts", t.size()}, {"buckets", buckets}}));
        }

        if (cmd == "ls") return ls(node_.node(), a, output, done);

        if (cmd == "gp" || cmd == "ap" || cmd == "announce" || cmd == "samples" ||
            (cmd == "peers" && a.size() > 0)) {
            return bep5(node_, cmd, a, done);
        }
        if (cmd == "bput" || cmd == "bget" || cmd == "mput" || cmd == "mget") {
            return bep44(node_, identity_, cmd, a, done);
        }

        if (cmd == "peers" || cmd == "fingerprint") {
            if (a.size() != 0) usage_error(cmd);
            const kad::Discovery* d = node_.discovery();
            if (!d) throw BadArgument("LAN discovery is off");
            if (cmd == "fingerprint") {
                const std::string f = d->fingerprint();
                return done(ok(cmd, f + "  (" + plural(d->size() + 1, "node", "nodes") + ")",
                               {{"fingerprint", f}, {"nodes", d->size() + 1}}));
            }
            const auto now = kad::Clock::now();
            json list = json::array();
            std::string text = plural(d->size(), "peer", "peers") + " on the LAN";
            for (const auto& p : d->peers()) {
                json pj = {
                    {"id", p.id.to_hex()},
                    {"addr", p.endpoint.to_string()},
                    {"last_seen_s",
                     std::chrono::duration_cast<std::chrono::seconds>(now - p.last_seen).count()}};
                text += "\n  " + p.id.to_hex() + "  " + p.endpoint.to_string() + "  seen " +
                        span_text(now - p.last_seen) + " ago";
                if (p.rtt) {
                    pj["rtt_ms"] = ms(*p.rtt);
                    text += ", rtt " + ms_text(*p.rtt);
                }
                list.push_back(pj);
            }
            return done(ok(cmd, text, {{"peers", list}, {"fingerprint", d->fingerprint()}}));
        }

        if (cmd == "stats") {
            if (a.size() != 0) usage_error(cmd);
            // The same numbers --metrics serves (metrics.cpp).
            const auto metrics = collect_metrics(node_);
            json data = json::object();
            std::string text;
            auto line = [&](std::string label, const std::string& value) {
                label.resize(std::max<std::size_t>(label.size() + 1, 26), ' ');
                text += (text.empty() ? "" : "\n") + label + value;
            };
            const Metric* bounds = nullptr;
            for (const auto& m : metrics) {
                if (m.name == "held_bound") bounds = &m;
            }
            for (const auto& m : metrics) {
                if (m.label.empty()) {
                    data[m.name] = m.values.front().second;
                    line(m.name, std::to_string(m.values.front().second));
                    continue;
                }
                json by = json::object();
                for (const auto& [label, v] : m.values) by[label] = v;
                data[m.name] = by;
                if (m.name == "held_bound") continue;  // shown with held
                if (m.name == "held" && bounds) {
                    for (std::size_t i = 0; i < m.values.size(); ++i) {
                        line("held " + m.values[i].first,
                             std::to_string(m.values[i].second) + " of " +
                                 std::to_string(bounds->values[i].second));
                    }
                    continue;
                }
                line(m.name, by.empty() && m.name == "clients" ? "-" : dump(by));
            }
            return done(ok(cmd, text, data));
        }

        if (cmd == "p") {
            if (a.size() < 1 || a.size() > 2) usage_error(cmd);
            const auto to = parse_endpoint(a[0]);
            std::optional<kad::NodeId> id;
            if (a.size() == 2) id = parse_id(a[1], "id");
            return node_.async_ping(to, id, [cmd, done](const kad::PingResult& r) {
                if (!r.ok) return done(fail(cmd, r));
                done(ok(cmd,
                        "pong from " + r.id.to_hex() + " at " + r.endpoint.to_string() + " in " +
                            ms_text(r.rtt),
                        {{"id", r.id.to_hex()},
                         {"addr", r.endpoint.to_string()},
                         {"rtt_ms", ms(r.rtt)}}));
            });
        }

        if (cmd == "fn") {
            if (a.size() < 2 || a.size() > 3) usage_error(cmd);
            const auto to = parse_endpoint(a[0]);
            std::optional<kad::NodeId> id;
            if (a.size() == 3) id = parse_id(a[1], "id");
            const auto target = parse_id(a[a.size() - 1], "target id");
            return node_.async_find_node(to, id, target, [cmd, done](const kad::FindNodeResult& r) {
                if (!r.ok) return done(fail(cmd, r));
                json nodes = json::array();
                std::string text = r.endpoint.to_string() + " (" + r.id.short_hex() +
                                   ") answered in " + ms_text(r.rtt) + " with " +
                                   plural(r.nodes.size(), "node", "nodes") +
                                   (r.nodes.empty() ? "" : ":");
                for (const auto& n : r.nodes) {
                    nodes.push_back(node_json(n));
                    text += "\n" + node_line(n);
                }
                done(ok(cmd, text,
                        {{"id", r.id.to_hex()},
                         {"addr", r.endpoint.to_string()},
                         {"rtt_ms", ms(r.rtt)},
                         {"nodes", nodes}}));
            });
        }

        if (cmd == "fv") {
            if (a.size() < 2 || a.size() > 3) usage_error(cmd);
            const auto to = parse_endpoint(a[0]);
            std::optional<kad::NodeId> id;
            if (a.size() == 3) id = parse_id(a[1], "id");
            const std::string key = a[a.size() - 1];
            return node_.async_find_value(to, id, key, [cmd, done](const kad::FindValueResult& r) {
                if (!r.ok) return done(fail(cmd, r));
                json data = {
                    {"id", r.id.to_hex()}, {"addr", r.endpoint.to_string()}, {"rtt_ms", ms(r.rtt)}};
                std::string text;
                json nodes = json::array();
                for (const auto& n : r.nodes) nodes.push_back(node_json(n));
                if (r.item) {
                    data["found"] = true;
                    data["value"] = r.item->value;
                    data["seq"] = r.item->seq;
                    text = quote(r.item->value) + " (seq " + std::to_string(r.item->seq) +
                           ") from " + r.endpoint.to_string() + " in " + ms_text(r.rtt);
                } else {
                    data["found"] = false;
                    text = "no value at " + r.endpoint.to_string() + "; it named " +
                           plural(r.nodes.size(), "node", "nodes") + " nearer the key" +
                           (r.nodes.empty() ? "" : ":");
                    for (const auto& n : r.nodes) text += "\n" + node_line(n);
                }
                data["nodes"] = nodes;
                done(ok(cmd, text, data));
            });
        }

        if (cmd == "s") {
            // s <ep> [<id>] <key> <value...>
            if (a.size() < 3) usage_error(cmd);
            const auto to = parse_endpoint(a[0]);
            std::optional<kad::NodeId> id;
            std::size_t k = 1;
            if (is_hex_id(a[1]) && a.size() >= 4) {
                id = parse_id(a[1], "id");
                k = 2;
            }
            std::string key = a[k];
            std::string value = a.rest(k + 1);
            return node_.async_store(
                to, id, key, value, {}, [cmd, done, key](const kad::StoreRpcResult& r) {
                    if (!r.ok) {
                        Reply f = fail(cmd, r);
                        if (r.error_code) f.data["krpc_code"] = r.error_code;
                        return done(f);
                    }
                    done(ok(cmd,
                            "stored " + quote(key) + " (seq " + std::to_string(r.seq) + ") at " +
                                r.endpoint.to_string() + " in " + ms_text(r.rtt),
                            {{"id", r.id.to_hex()},
                             {"addr", r.endpoint.to_string()},
                             {"seq", r.seq},
                             {"rtt_ms", ms(r.rtt)}}));
                });
        }

        if (cmd == "ln") {
            const bool traced = a.size() == 2 && a[0] == "--trace" && !a.words[1].quoted;
            if (a.size() != (traced ? 2U : 1U)) usage_error(cmd);
            const auto target = parse_id(a[traced ? 1 : 0], "target id");
            return node_.async_lookup(
                target, traced ? tracer(cmd, output) : kad::Trace{},
                [cmd, done](const kad::LookupResult& r) {
                    if (!r.ok) return done(fail(cmd, r));
                    json nodes = json::array();
                    std::string text =
                        plural(r.nodes.size(), "node", "nodes") + " nearest " +
                        r.target.short_hex() + " in " + plural(r.hops, "hop", "hops") + ", " +
                        plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed) + ":";
                    for (const auto& n : r.nodes) {
                        nodes.push_back(node_json(n));
                        text += "\n" + node_line(n);
                    }
                    done(ok(cmd, text,
                            {{"nodes", nodes},
                             {"hops", r.hops},
                             {"queries", r.queries},
                             {"ms", ms(r.elapsed)}}));
                });
        }

        if (cmd == "get" || cmd == "lv") {
            const bool traced = a.size() == 2 && a[0] == "--trace" && !a.words[1].quoted;
            if (a.size() != (traced ? 2U : 1U)) usage_error(cmd);
            const std::string key = a[traced ? 1 : 0];
            return node_.async_get(
                key, traced ? tracer(cmd, output) : kad::Trace{},
                [this, cmd, done](const kad::GetResult& r) {
                    json data = {{"key", r.key},
                                 {"hops", r.hops},
                                 {"queries", r.queries},
                                 {"ms", ms(r.elapsed)}};
                    if (!r.ok) return done(fail(cmd, r, data));
                    data["value"] = r.item->value;
                    data["seq"] = r.item->seq;
                    const bool local = r.from.id == node_.id();
                    data["from"] =
                        local ? node_json({node_.id(), node_.local_endpoint()}) : node_json(r.from);
                    std::string text =
                        quote(r.item->value) + " (seq " + std::to_string(r.item->seq) + ")";
                    if (local) {
                        text += " from this node's own store";
                        if (r.queries > 0) {
                            text += "; " + plural(r.queries, "query", "queries") +
                                    " found no newer version";
                        }
                    } else {
                        text += ", " + plural(r.hops, "hop", "hops") + ", " +
                                plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed);
                    }
                    if (cmd == "lv" && !local) {
                        text +=
                            "\nfrom " + r.from.id.to_hex() + " at " + r.from.endpoint.to_string();
                    }
                    done(ok(cmd, text, data));
                });
        }

        if (cmd == "put") {
            kad::PutOptions options;
            std::size_t i = 0;
            while (i < a.size() && a[i].starts_with("--") && !a.words[i + 1].quoted) {
                if (a[i] == "--ttl" && i + 1 < a.size()) {
                    options.ttl =
                        std::chrono::seconds(parse_int(a[i + 1], "--ttl", 1, 365LL * 86400));
                } else if (a[i] == "--seq" && i + 1 < a.size()) {
                    options.seq = parse_int(a[i + 1], "--seq", 0, INT64_MAX);
                } else if (a[i] == "--trace") {
                    options.trace = tracer(cmd, output);
                    i += 1;
                    continue;
                } else {
                    usage_error(cmd);
                }
                i += 2;
            }
            if (a.size() < i + 2) usage_error(cmd);
            std::string key = a[i];
            std::string value = a.rest(i + 1);
            return node_.async_put(
                key, value, options, [cmd, done, value](const kad::PutResult& r) {
                    json refusals = json::array();
                    for (const auto& [n, why] : r.refusals) {
                        refusals.push_back({{"id", n.id.to_hex()},
                                            {"addr", n.endpoint.to_string()},
                                            {"error", why}});
                    }
                    json data = {{"key", r.key},         {"seq", r.seq},
                                 {"stored", r.stored},   {"refused", r.refused},
                                 {"failed", r.failed},   {"stored_locally", r.stored_locally},
                                 {"queries", r.queries}, {"ms", ms(r.elapsed)}};
                    if (!refusals.empty()) data["refusals"] = refusals;
                    if (!r.ok) return done(fail(cmd, r, data));
                    std::string text = "stored " + quote(r.key) + " = " + quote(value) + " (seq " +
                                       std::to_string(r.seq) + ") on " +
                                       plural(r.stored, "node", "nodes");
                    if (r.stored == 0 && r.stored_locally)
                        text += " (only here: no other nodes known)";
                    text += ", " + std::to_string(r.refused) + " refused";
                    if (r.failed) text += ", " + std::to_string(r.failed) + " did not answer";
                    text +=
                        " — " + plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed);
                    for (const auto& [n, why] : r.refusals) {
                        text += "\n  refused by " + n.endpoint.to_string() + ": " + why;
                    }
                    done(ok(cmd, text, data));
                });
        }

        if (cmd == "bootstrap") {
            if (a.size() < 1 || a.size() > 2) usage_error(cmd);
            kad::BootstrapPeer peer{parse_endpoint(a[0]), std::nullopt};
            if (a.size() == 2) peer.id = parse_id(a[1], "id");
            return node_.async_bootstrap({peer}, [cmd, done](const kad::BootstrapResult& r) {
                if (!r.ok) return done(fail(cmd, r));
                done(ok(cmd,
                        "joined: " + plural(r.contacts, "contact", "contacts") + " in " +
                            ms_text(r.elapsed),
                        {{"contacts", r.contacts}, {"ms", ms(r.elapsed)}}));
            });
        }
    } catch (const BadArgument& e) {
        return done(fail(cmd, e.what()));
    }
    done(fail(cmd, "unknown command '" + cmd + "' (type help for the list)", "unknown_command"));
}

}  // namespace kadnode
