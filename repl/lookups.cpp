// The iterative commands: ln (a node lookup), get and lv (a value lookup), put.

#include "command_util.hpp"

namespace kadnode {

namespace {

// [--trace] <one word>: whether --trace is there (it is an option only unquoted).
bool traced(const Args& a) {
    return a.size() == 2 && a[0] == "--trace" && !a.words[1].quoted;
}

}  // namespace

void handlers::lookup(const Call& c) {
    const Args& a = c.a;
    const bool traced = kadnode::traced(a);
    if (a.size() != (traced ? 2U : 1U)) return c.usage();
    auto target = parse_id(a[traced ? 1 : 0], "target id");
    if (!target) return c.refuse(target.error());
    c.node.async_lookup(*target, traced ? tracer(c.cmd, c.output) : kad::Trace{},
                        [cmd = c.cmd, done = c.done](const kad::LookupResult& r) {
                            if (!r.ok) return done(fail(cmd, r));
                            json nodes = json::array();
                            std::string text = plural(r.nodes.size(), "node", "nodes") +
                                               " nearest " + r.target.short_hex() + " in " +
                                               plural(r.hops, "hop", "hops") + ", " +
                                               plural(r.queries, "query", "queries") + ", " +
                                               ms_text(r.elapsed) + ":";
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

void handlers::get(const Call& c) {
    const Args& a = c.a;
    const bool traced = kadnode::traced(a);
    if (a.size() != (traced ? 2U : 1U)) return c.usage();
    const std::string key = a[traced ? 1 : 0];
    c.node.async_get(
        key, traced ? tracer(c.cmd, c.output) : kad::Trace{},
        [cmd = c.cmd, done = c.done, &node = c.node](const kad::GetResult& r) {
            json data = {
                {"key", r.key}, {"hops", r.hops}, {"queries", r.queries}, {"ms", ms(r.elapsed)}};
            if (!r.ok) return done(fail(cmd, r, data));
            data["value"] = r.item->value;
            data["seq"] = r.item->seq;
            const bool local = r.from.id == node.id();
            data["from"] =
                local ? node_json({node.id(), node.local_endpoint()}) : node_json(r.from);
            std::string text = quote(r.item->value) + " (seq " + std::to_string(r.item->seq) + ")";
            if (local) {
                text += " from this node's own store";
                if (r.queries > 0) {
                    text +=
                        "; " + plural(r.queries, "query", "queries") + " found no newer version";
                }
            } else {
                text += ", " + plural(r.hops, "hop", "hops") + ", " +
                        plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed);
            }
            if (cmd == "lv" && !local) {
                text += "\nfrom " + r.from.id.to_hex() + " at " + r.from.endpoint.to_string();
            }
            done(ok(cmd, text, data));
        });
}

void handlers::put(const Call& c) {
    const Args& a = c.a;
    kad::PutOptions options;
    std::size_t i = 0;
    while (i < a.size() && a.option(i)) {
        if (a[i] == "--trace") {
            options.trace = tracer(c.cmd, c.output);
            i += 1;
            continue;
        }
        if (i + 1 >= a.size()) return c.usage();
        if (a[i] == "--ttl") {
            auto ttl = parse_int(a[i + 1], "--ttl", 1, 365LL * 86400);
            if (!ttl) return c.refuse(ttl.error());
            options.ttl = std::chrono::seconds(*ttl);
        } else if (a[i] == "--seq") {
            auto seq = parse_int(a[i + 1], "--seq", 0, INT64_MAX);
            if (!seq) return c.refuse(seq.error());
            options.seq = *seq;
        } else {
            return c.usage();
        }
        i += 2;
    }
    if (a.size() < i + 2) return c.usage();
    std::string key = a[i];
    std::string value = a.rest(i + 1);
    c.node.async_put(
        key, value, options, [cmd = c.cmd, done = c.done, value](const kad::PutResult& r) {
            json refusals = json::array();
            for (const auto& [n, why] : r.refusals) {
                refusals.push_back(
                    {{"id", n.id.to_hex()}, {"addr", n.endpoint.to_string()}, {"error", why}});
            }
            json data = {{"key", r.key},         {"seq", r.seq},
                         {"stored", r.stored},   {"refused", r.refused},
                         {"failed", r.failed},   {"stored_locally", r.stored_locally},
                         {"queries", r.queries}, {"ms", ms(r.elapsed)}};
            if (!refusals.empty()) data["refusals"] = refusals;
            if (!r.ok) return done(fail(cmd, r, data));
            std::string text = "stored " + quote(r.key) + " = " + quote(value) + " (seq " +
                               std::to_string(r.seq) + ") on " + plural(r.stored, "node", "nodes");
            if (r.stored == 0 && r.stored_locally) text += " (only here: no other nodes known)";
            text += ", " + std::to_string(r.refused) + " refused";
            if (r.failed) text += ", " + std::to_string(r.failed) + " did not answer";
            text += " — " + plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed);
            for (const auto& [n, why] : r.refusals) {
                text += "\n  refused by " + n.endpoint.to_string() + ": " + why;
            }
            done(ok(cmd, text, data));
        });
}

void handlers::unpublish(const Call& c) {
    const Args& a = c.a;
    const bool item = a.size() == 2 && a.option(0) && a[0] == "--item";
    if (a.size() != (item ? 2U : 1U) || (!item && a.option(0))) return c.usage();
    kad::NodeId target;
    if (item) {
        auto t = parse_id(a[1], "target");
        if (!t) return c.refuse(t.error());
        target = *t;
    } else {
        target = kad::NodeId::from_key(a[0]);
    }
    const auto store = item ? kad::Node::Store::Items : kad::Node::Store::Values;
    const std::string what = item ? "BEP 44 item " + target.to_hex() : quote(a[0]);
    const auto expires = c.node.unpublish(store, target);
    json data = {{"target", target.to_hex()}};
    if (!item) data["key"] = a[0];
    if (!expires) {
        Reply r = fail(c.cmd, what + " is not published by this node", "not_found");
        r.data = data;
        return c.done(r);
    }
    const auto left = std::max(kad::Duration::zero(), *expires - kad::Clock::now());
    data["expires_in_s"] = std::chrono::duration_cast<std::chrono::seconds>(left).count();
    c.done(ok(c.cmd,
              what + " is no longer refreshed: it expires in " + span_text(left) +
                  ", here and where it is held",
              data));
}

}  // namespace kadnode
