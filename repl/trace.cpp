// --trace for ln, lv, get and put: each query of the lookup and its fate, printed as it happens
// (a partial reply per event: a line of text, or {"cmd":...,"partial":true,"trace":{...}}).

#include <string>

#include "command_util.hpp"

namespace kadnode {

namespace {

json trace_json(const kad::TraceEvent& e) {
    json j = {{"kind", std::string(kad::to_string(e.kind))}, {"at_ms", ms(e.at)}};
    if (e.kind == kad::TraceEvent::Kind::Done) {
        j["queries"] = e.queries;
        j["hops"] = e.hops;
        return j;
    }
    j["id"] = e.id.to_hex();
    j["addr"] = e.endpoint.to_string();
    j["distance"] = e.distance;
    j["depth"] = e.depth;
    switch (e.kind) {
        case kad::TraceEvent::Kind::Query:
            j["method"] = std::string(kad::krpc::method_name(e.method));
            break;
        case kad::TraceEvent::Kind::Reply:
            j["rtt_ms"] = ms(e.rtt);
            j["nodes"] = e.nodes;
            j["new"] = e.fresh;
            j["value"] = e.value;
            j["token"] = e.token;
            break;
        case kad::TraceEvent::Kind::Error:
            if (e.rtt > kad::Duration::zero()) j["rtt_ms"] = ms(e.rtt);
            j["error"] = e.error;
            break;
        case kad::TraceEvent::Kind::Timeout:
        case kad::TraceEvent::Kind::Unsendable:
            j["error"] = e.error;
            break;
        default:
            break;
    }
    return j;
}

// "  +12.3 ms  reply    1a2b3c4d 10.0.0.5:6881  d=154 depth 1  rtt 12.3 ms: 8 nodes (3 new), token"
std::string trace_text(const kad::TraceEvent& e) {
    std::string at = "+" + ms_text(e.at);
    at.resize(std::max<std::size_t>(at.size(), 11), ' ');
    std::string kind(kad::to_string(e.kind));
    kind.resize(std::max<std::size_t>(kind.size(), 12), ' ');
    if (e.kind == kad::TraceEvent::Kind::Done) {
        return "  " + at + " " + kind + plural(e.queries, "query", "queries") + ", " +
               plural(static_cast<std::size_t>(e.hops), "hop", "hops");
    }
    std::string who = e.id.short_hex() + " " + e.endpoint.to_string();
    who.resize(std::max<std::size_t>(who.size(), 31), ' ');
    std::string text = "  " + at + " " + kind + who + " d=" + std::to_string(e.distance) +
                       " depth " + std::to_string(e.depth);
    switch (e.kind) {
        case kad::TraceEvent::Kind::Query:
            text += "  " + std::string(kad::krpc::method_name(e.method));
            break;
        case kad::TraceEvent::Kind::Reply:
            text += "  rtt " + ms_text(e.rtt) + ": " + plural(e.nodes, "node", "nodes") + " (" +
                    std::to_string(e.fresh) + " new)";
            if (e.value) text += ", the value";
            if (e.token) text += ", token";
            break;
        case kad::TraceEvent::Kind::Error:
        case kad::TraceEvent::Kind::Timeout:
        case kad::TraceEvent::Kind::Unsendable:
            text += "  " + e.error;
            break;
        default:
            break;
    }
    return text;
}

}  // namespace

kad::Trace tracer(const std::string& cmd, const Output& output) {
    if (!output) return {};
    return [cmd, output](const kad::TraceEvent& e) {
        Reply r;
        r.cmd = cmd;
        r.partial = true;
        r.text = trace_text(e);
        r.data = {{"trace", trace_json(e)}};
        output(r);
    };
}

}  // namespace kadnode
