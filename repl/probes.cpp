// The commands that ask one node: p, fn, fv and s (single RPCs), and bootstrap through one. The
// node is an address or a HOST:PORT (resolved by with_endpoint once the other arguments are
// known to be good).

#include "command_util.hpp"

namespace kadnode {

namespace {

// The id after the address, when `with_id`.
kad::Expected<std::optional<kad::NodeId>> id_after_address(const Args& a, bool with_id) {
    return parse_optional_id(with_id ? &a[1] : nullptr, "id");
}

}  // namespace

void handlers::ping(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto id = id_after_address(a, a.size() == 2);
    if (!id) return c.refuse(id.error());
    auto reply = [cmd = c.cmd, done = c.done](const kad::PingResult& r) {
        if (!r.ok) return done(fail(cmd, r));
        done(ok(cmd,
                "pong from " + r.id.to_hex() + " at " + r.endpoint.to_string() + " in " +
                    ms_text(r.rtt),
                {{"id", r.id.to_hex()}, {"addr", r.endpoint.to_string()}, {"rtt_ms", ms(r.rtt)}}));
    };
    with_endpoint(c, a[0], [&node = c.node, id = *id, reply](const kad::Endpoint& to) {
        node.async_ping(to, id, reply);
    });
}

void handlers::find_node(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 2 || a.size() > 3) return c.usage();
    auto id = id_after_address(a, a.size() == 3);
    auto target = parse_id(a[a.size() - 1], "target id");
    if (auto e = first_error(id, target)) return c.refuse(*e);
    auto reply = [cmd = c.cmd, done = c.done](const kad::FindNodeResult& r) {
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
    };
    with_endpoint(c, a[0],
                  [&node = c.node, id = *id, target = *target, reply](const kad::Endpoint& to) {
                      node.async_find_node(to, id, target, reply);
                  });
}

void handlers::find_value(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 2 || a.size() > 3) return c.usage();
    auto id = id_after_address(a, a.size() == 3);
    if (!id) return c.refuse(id.error());
    auto reply = [cmd = c.cmd, done = c.done](const kad::FindValueResult& r) {
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
    };
    with_endpoint(
        c, a[0], [&node = c.node, id = *id, key = a[a.size() - 1], reply](const kad::Endpoint& to) {
            node.async_find_value(to, id, key, reply);
        });
}

void handlers::store(const Call& c) {
    // s <ep> [<id>] <key> <value...>: a word of 40 hex digits after the address is the id when
    // a key and a value follow it.
    const Args& a = c.a;
    if (a.size() < 3) return c.usage();
    const bool with_id = is_hex_id(a[1]) && a.size() >= 4;
    auto id = id_after_address(a, with_id);
    if (!id) return c.refuse(id.error());
    const std::size_t k = with_id ? 2 : 1;
    std::string key = a[k];
    auto reply = [cmd = c.cmd, done = c.done, key](const kad::StoreRpcResult& r) {
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
    };
    with_endpoint(
        c, a[0],
        [&node = c.node, id = *id, key, value = a.rest(k + 1), reply](const kad::Endpoint& to) {
            node.async_store(to, id, key, value, {}, reply);
        });
}

void handlers::bootstrap(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto id = id_after_address(a, a.size() == 2);
    if (!id) return c.refuse(id.error());
    auto reply = [cmd = c.cmd, done = c.done](const kad::BootstrapResult& r) {
        if (!r.ok) return done(fail(cmd, r));
        done(
            ok(cmd,
               "joined: " + plural(r.contacts, "contact", "contacts") + " in " + ms_text(r.elapsed),
               {{"contacts", r.contacts}, {"ms", ms(r.elapsed)}}));
    };
    with_endpoint(c, a[0], [&node = c.node, id = *id, reply](const kad::Endpoint& to) {
        node.async_bootstrap({{to, id}}, reply);
    });
}

}  // namespace kadnode
