// The BEP 5 commands: gp and ap (one node), announce and peers <info-hash> (iterative); and BEP
// 51's samples (one node).

#include "command_util.hpp"

namespace kadnode {

namespace {

json peers_json(const std::vector<kad::Endpoint>& peers) {
    json list = json::array();
    for (const auto& p : peers) list.push_back(p.to_string());
    return list;
}

std::string peers_text(const std::vector<kad::Endpoint>& peers) {
    std::string text;
    for (const auto& p : peers) text += "\n  " + p.to_string();
    return text;
}

void get_peers_probe(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done) {
    if (a.size() < 2 || a.size() > 3) usage_error(cmd);
    const auto to = parse_endpoint(a[0]);
    std::optional<kad::NodeId> id;
    if (a.size() == 3) id = parse_id(a[1], "id");
    const auto info_hash = parse_id(a[a.size() - 1], "info-hash");
    node.async_get_peers(to, id, info_hash, [cmd, done](const kad::GetPeersResult& r) {
        if (!r.ok) return done(fail(cmd, r));
        json nodes = json::array();
        for (const auto& n : r.nodes) nodes.push_back(node_json(n));
        std::string text = r.endpoint.to_string() + " (" + r.id.short_hex() + ") answered in " +
                           ms_text(r.rtt) + " with " + plural(r.values.size(), "peer", "peers") +
                           " and " + plural(r.nodes.size(), "node", "nodes") + peers_text(r.values);
        for (const auto& n : r.nodes) text += "\n" + node_line(n);
        done(ok(cmd, text,
                {{"id", r.id.to_hex()},
                 {"addr", r.endpoint.to_string()},
                 {"rtt_ms", ms(r.rtt)},
                 {"peers", peers_json(r.values)},
                 {"nodes", nodes}}));
    });
}

void announce_probe(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done) {
    // ap <ep> [<id>] <info-hash> [<port>]: an id is a second 40-hex word before the info-hash.
    if (a.size() < 2 || a.size() > 4) usage_error(cmd);
    const auto to = parse_endpoint(a[0]);
    std::size_t i = 1;
    std::optional<kad::NodeId> id;
    if (a.size() >= 3 && is_hex_id(a[1]) && is_hex_id(a[2])) id = parse_id(a[i++], "id");
    const auto info_hash = parse_id(a[i++], "info-hash");
    std::uint16_t port = 0;
    if (i < a.size()) port = static_cast<std::uint16_t>(parse_int(a[i++], "port", 1, 65535));
    if (i != a.size()) usage_error(cmd);
    node.async_announce_peer(
        to, id, info_hash, port, [cmd, done, port](const kad::AnnouncePeerResult& r) {
            if (!r.ok) {
                Reply f = fail(cmd, r);
                if (r.error_code) f.data["krpc_code"] = r.error_code;
                return done(f);
            }
            const std::string at = port ? "port " + std::to_string(port) : "our own port";
            done(
                ok(cmd,
                   "announced at " + at + " to " + r.endpoint.to_string() + " in " + ms_text(r.rtt),
                   {{"id", r.id.to_hex()},
                    {"addr", r.endpoint.to_string()},
                    {"port", port},
                    {"rtt_ms", ms(r.rtt)}}));
        });
}

void find_peers(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done) {
    if (a.size() != 1) usage_error(cmd);
    const auto info_hash = parse_id(a[0], "info-hash");
    node.async_find_peers(info_hash, [cmd, done](const kad::FindPeersResult& r) {
        json data = {{"peers", peers_json(r.peers)},
                     {"hops", r.hops},
                     {"queries", r.queries},
                     {"ms", ms(r.elapsed)}};
        if (!r.ok) return done(fail(cmd, r, data));
        done(ok(cmd,
                plural(r.peers.size(), "peer", "peers") + " in swarm " + r.info_hash.short_hex() +
                    " from the " + plural(r.nodes.size(), "node", "nodes") + " nearest it, " +
                    plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed) +
                    peers_text(r.peers),
                data));
    });
}

void announce(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done) {
    if (a.size() < 1 || a.size() > 2) usage_error(cmd);
    const auto info_hash = parse_id(a[0], "info-hash");
    std::uint16_t port = 0;
    if (a.size() == 2) port = static_cast<std::uint16_t>(parse_int(a[1], "port", 1, 65535));
    node.async_announce(info_hash, port, [cmd, done](const kad::AnnounceResult& r) {
        json data = {{"announced", r.announced},     {"refused", r.refused},
                     {"failed", r.failed},           {"port", r.port},
                     {"peers", peers_json(r.peers)}, {"queries", r.queries},
                     {"ms", ms(r.elapsed)}};
        if (!r.ok) return done(fail(cmd, r, data));
        const std::string at = r.port ? "port " + std::to_string(r.port) : "our own port";
        done(ok(cmd,
                "announced in swarm " + r.info_hash.short_hex() + " at " + at + " on " +
                    plural(r.announced, "node", "nodes") + ", " + std::to_string(r.refused) +
                    " refused, " + std::to_string(r.failed) + " did not answer; " +
                    plural(r.peers.size(), "peer", "peers") + " met on the way" +
                    peers_text(r.peers),
                data));
    });
}

// BEP 51: a sample of the info-hashes one node holds.
void samples_probe(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done) {
    if (a.size() < 1 || a.size() > 2) usage_error(cmd);
    const auto to = parse_endpoint(a[0]);
    const auto target = a.size() == 2 ? parse_id(a[1], "target") : node.id();
    node.async_sample_infohashes(
        to, std::nullopt, target, [cmd, done](const kad::SampleInfohashesResult& r) {
            if (!r.ok) return done(fail(cmd, r));
            const auto interval =
                std::chrono::duration_cast<std::chrono::seconds>(r.interval).count();
            json samples = json::array();
            json nodes = json::array();
            for (const auto& h : r.samples) samples.push_back(h.to_hex());
            for (const auto& n : r.nodes) nodes.push_back(node_json(n));
            std::string text = r.endpoint.to_string() + " (" + r.id.short_hex() + ") holds " +
                               plural(static_cast<std::size_t>(r.num), "info-hash", "info-hashes") +
                               "; a sample of " + std::to_string(r.samples.size()) +
                               ", the same for " + span_text(r.interval) + " — " + ms_text(r.rtt);
            for (const auto& h : r.samples) text += "\n  " + h.to_hex();
            done(ok(cmd, text,
                    {{"id", r.id.to_hex()},
                     {"addr", r.endpoint.to_string()},
                     {"rtt_ms", ms(r.rtt)},
                     {"interval_s", interval},
                     {"num", r.num},
                     {"samples", samples},
                     {"nodes", nodes}}));
        });
}

}  // namespace

void bep5(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done) {
    if (cmd == "gp") return get_peers_probe(node, cmd, a, done);
    if (cmd == "ap") return announce_probe(node, cmd, a, done);
    if (cmd == "announce") return announce(node, cmd, a, done);
    if (cmd == "samples") return samples_probe(node, cmd, a, done);
    find_peers(node, cmd, a, done);
}

}  // namespace kadnode
