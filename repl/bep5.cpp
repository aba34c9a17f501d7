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

}  // namespace

void handlers::get_peers(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 2 || a.size() > 3) return c.usage();
    auto id = parse_optional_id(a.size() == 3 ? &a[1] : nullptr, "id");
    auto info_hash = parse_id(a[a.size() - 1], "info-hash");
    if (auto e = first_error(id, info_hash)) return c.refuse(*e);
    with_endpoint(
        c, a[0],
        [&node = c.node, id = *id, info_hash = *info_hash, cmd = c.cmd,
         done = c.done](const kad::Endpoint& to) {
            node.async_get_peers(to, id, info_hash, [cmd, done](const kad::GetPeersResult& r) {
                if (!r.ok) return done(fail(cmd, r));
                json nodes = json::array();
                for (const auto& n : r.nodes) nodes.push_back(node_json(n));
                std::string text = r.endpoint.to_string() + " (" + r.id.short_hex() +
                                   ") answered in " + ms_text(r.rtt) + " with " +
                                   plural(r.values.size(), "peer", "peers") + " and " +
                                   plural(r.nodes.size(), "node", "nodes") + peers_text(r.values);
                for (const auto& n : r.nodes) text += "\n" + node_line(n);
                done(ok(cmd, text,
                        {{"id", r.id.to_hex()},
                         {"addr", r.endpoint.to_string()},
                         {"rtt_ms", ms(r.rtt)},
                         {"peers", peers_json(r.values)},
                         {"nodes", nodes}}));
            });
        });
}

void handlers::announce_peer(const Call& c) {
    // ap <ep> [<id>] <info-hash> [<port>]: an id is a second 40-hex word before the info-hash.
    const Args& a = c.a;
    if (a.size() < 2 || a.size() > 4) return c.usage();
    std::size_t i = 1;
    const bool with_id = a.size() >= 3 && is_hex_id(a[1]) && is_hex_id(a[2]);
    auto id = parse_optional_id(with_id ? &a[i++] : nullptr, "id");
    auto info_hash = parse_id(a[i++], "info-hash");
    kad::Expected<std::int64_t> port = 0;
    if (i < a.size()) port = parse_int(a[i++], "port", 1, 65535);
    if (i != a.size()) return c.usage();
    if (auto e = first_error(id, info_hash, port)) return c.refuse(*e);
    with_endpoint(c, a[0],
                  [&node = c.node, id = *id, info_hash = *info_hash, port = *port, cmd = c.cmd,
                   done = c.done](const kad::Endpoint& to) {
                      node.async_announce_peer(
                          to, id, info_hash, static_cast<std::uint16_t>(port),
                          [cmd, done, port](const kad::AnnouncePeerResult& r) {
                              if (!r.ok) {
                                  Reply f = fail(cmd, r);
                                  if (r.error_code) f.data["krpc_code"] = r.error_code;
                                  return done(f);
                              }
                              const std::string at =
                                  port ? "port " + std::to_string(port) : "our own port";
                              done(ok(cmd,
                                      "announced at " + at + " to " + r.endpoint.to_string() +
                                          " in " + ms_text(r.rtt),
                                      {{"id", r.id.to_hex()},
                                       {"addr", r.endpoint.to_string()},
                                       {"port", port},
                                       {"rtt_ms", ms(r.rtt)}}));
                          });
                  });
}

void handlers::find_peers(const Call& c) {
    if (c.a.size() != 1) return c.usage();
    auto info_hash = parse_id(c.a[0], "info-hash");
    if (!info_hash) return c.refuse(info_hash.error());
    c.node.async_find_peers(*info_hash, [cmd = c.cmd,
                                         done = c.done](const kad::FindPeersResult& r) {
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

void handlers::announce(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto info_hash = parse_id(a[0], "info-hash");
    kad::Expected<std::int64_t> port = 0;
    if (a.size() == 2) port = parse_int(a[1], "port", 1, 65535);
    if (auto e = first_error(info_hash, port)) return c.refuse(*e);
    c.node.async_announce(
        *info_hash, static_cast<std::uint16_t>(*port),
        [cmd = c.cmd, done = c.done](const kad::AnnounceResult& r) {
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
void handlers::samples(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto target =
        a.size() == 2 ? parse_id(a[1], "target") : kad::Expected<kad::NodeId>(c.node.id());
    if (!target) return c.refuse(target.error());
    with_endpoint(
        c, a[0],
        [&node = c.node, target = *target, cmd = c.cmd, done = c.done](const kad::Endpoint& to) {
            node.async_sample_infohashes(
                to, std::nullopt, target, [cmd, done](const kad::SampleInfohashesResult& r) {
                    if (!r.ok) return done(fail(cmd, r));
                    const auto interval =
                        std::chrono::duration_cast<std::chrono::seconds>(r.interval).count();
                    json samples = json::array();
                    json nodes = json::array();
                    for (const auto& h : r.samples) samples.push_back(h.to_hex());
                    for (const auto& n : r.nodes) nodes.push_back(node_json(n));
                    std::string text =
                        r.endpoint.to_string() + " (" + r.id.short_hex() + ") holds " +
                        plural(static_cast<std::size_t>(r.num), "info-hash", "info-hashes") +
                        "; a sample of " + std::to_string(r.samples.size()) + ", the same for " +
                        span_text(r.interval) + " — " + ms_text(r.rtt);
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
        });
}

}  // namespace kadnode
