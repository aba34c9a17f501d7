// The commands that ask one node: p, fn, fv and s (single RPCs), and bootstrap through one.

#include "command_util.hpp"

namespace kadnode {

namespace {

// <ip>:<port> [<id>], the start of every probe: the id is there when `with_id`.
struct Addressed {
    kad::Endpoint to;
    std::optional<kad::NodeId> id;
};

kad::Expected<Addressed> addressed(const Args& a, bool with_id) {
    auto to = parse_endpoint(a[0]);
    auto id = parse_optional_id(with_id ? &a[1] : nullptr, "id");
    if (auto e = first_error(to, id)) return kad::unexpected(*e);
    return Addressed{*to, *id};
}

}  // namespace

void handlers::ping(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto at = addressed(a, a.size() == 2);
    if (!at) return c.refuse(at.error());
    c.node.async_ping(at->to, at->id, [cmd = c.cmd, done = c.done](const kad::PingResult& r) {
        if (!r.ok) return done(fail(cmd, r));
        done(ok(cmd,
                "pong from " + r.id.to_hex() + " at " + r.endpoint.to_string() + " in " +
                    ms_text(r.rtt),
                {{"id", r.id.to_hex()}, {"addr", r.endpoint.to_string()}, {"rtt_ms", ms(r.rtt)}}));
    });
}

void handlers::find_node(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 2 || a.size() > 3) return c.usage();
    auto at = addressed(a, a.size() == 3);
    auto target = parse_id(a[a.size() - 1], "target id");
    if (auto e = first_error(at, target)) return c.refuse(*e);
    c.node.async_find_node(
        at->to, at->id, *target, [cmd = c.cmd, done = c.done](const kad::FindNodeResult& r) {
            if (!r.ok) return done(fail(cmd, r));
            json nodes = json::array();
            std::string text = r.endpoint.to_string() + " (" + r.id.short_hex() + ") answered in " +
                               ms_text(r.rtt) + " with " + plural(r.nodes.size(), "node", "nodes") +
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

void handlers::find_value(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 2 || a.size() > 3) return c.usage();
    auto at = addressed(a, a.size() == 3);
    if (!at) return c.refuse(at.error());
    const std::string key = a[a.size() - 1];
    c.node.async_find_value(
        at->to, at->id, key, [cmd = c.cmd, done = c.done](const kad::FindValueResult& r) {
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
                text = quote(r.item->value) + " (seq " + std::to_string(r.item->seq) + ") from " +
                       r.endpoint.to_string() + " in " + ms_text(r.rtt);
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

void handlers::store(const Call& c) {
    // s <ep> [<id>] <key> <value...>: a word of 40 hex digits after the address is the id when
    // a key and a value follow it.
    const Args& a = c.a;
    if (a.size() < 3) return c.usage();
    const bool with_id = is_hex_id(a[1]) && a.size() >= 4;
    auto at = addressed(a, with_id);
    if (!at) return c.refuse(at.error());
    const std::size_t k = with_id ? 2 : 1;
    std::string key = a[k];
    std::string value = a.rest(k + 1);
    c.node.async_store(at->to, at->id, key, value, {},
                       [cmd = c.cmd, done = c.done, key](const kad::StoreRpcResult& r) {
                           if (!r.ok) {
                               Reply f = fail(cmd, r);
                               if (r.error_code) f.data["krpc_code"] = r.error_code;
                               return done(f);
                           }
                           done(ok(cmd,
                                   "stored " + quote(key) + " (seq " + std::to_string(r.seq) +
                                       ") at " + r.endpoint.to_string() + " in " + ms_text(r.rtt),
                                   {{"id", r.id.to_hex()},
                                    {"addr", r.endpoint.to_string()},
                                    {"seq", r.seq},
                                    {"rtt_ms", ms(r.rtt)}}));
                       });
}

void handlers::bootstrap(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto at = addressed(a, a.size() == 2);
    if (!at) return c.refuse(at.error());
    c.node.async_bootstrap({{at->to, at->id}},
                           [cmd = c.cmd, done = c.done](const kad::BootstrapResult& r) {
                               if (!r.ok) return done(fail(cmd, r));
                               done(ok(cmd,
                                       "joined: " + plural(r.contacts, "contact", "contacts") +
                                           " in " + ms_text(r.elapsed),
                                       {{"contacts", r.contacts}, {"ms", ms(r.elapsed)}}));
                           });
}

}  // namespace kadnode
