// KRPC decoding (kad/krpc.hpp): the tables of what each message must carry, and the strict
// decoder that applies them. Encoding is in krpc_encode.cpp.

#include "kad/krpc.hpp"

#include "keyspec.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

namespace kad::krpc {

using bencode::Type;
using bencode::View;
using detail::any_value;
using detail::check_rows;
using detail::find_rows;
using detail::Found;
using detail::KeySpec;
using detail::Len;
using detail::Need;
using detail::sorted;
using detail::verify;

std::string_view method_name(Method m) noexcept {
    switch (m) {
        case Method::Ping:
            return "ping";
        case Method::FindNode:
            return "find_node";
        case Method::FindValue:
            return "find_value";
        case Method::Store:
            return "store";
        case Method::GetPeers:
            return "get_peers";
        case Method::AnnouncePeer:
            return "announce_peer";
        case Method::Get:
            return "get";
        case Method::Put:
            return "put";
        case Method::SampleInfohashes:
            return "sample_infohashes";
        case Method::Listen:
            return "listen";
        case Method::Notify:
            return "notify";
        case Method::Unknown:
            break;
    }
    return "unknown";
}

namespace {

// ---- What each message must carry -----------------------------------------------------------
// One row per key: its type, whether it is required, and a length rule for strings. verify()
// applies a table to a dictionary and names the first key that breaks it.

constexpr std::size_t kIdLen = NodeId::kBytes;

// The top level of a message: found in one walk, then checked in two steps, the rows every
// message has, then those of its kind ("y"). A row is required only of the kinds it belongs to.
constexpr std::array kRootSpec{
    KeySpec{"a", Type::Dict, Need::Required},
    KeySpec{"e", Type::List, Need::Required},
    KeySpec{"ip", Type::String, Need::Optional},
    KeySpec{"q", Type::String, Need::Required},
    KeySpec{"r", Type::Dict, Need::Required},
    KeySpec{"ro", Type::Integer, Need::Optional},
    KeySpec{"t", Type::String, Need::Required, Len::AtMost, kMaxTransactionId},
    KeySpec{"v", Type::String, Need::Optional, Len::AtMost, kMaxVersionSize},
    KeySpec{"y", Type::String, Need::Required, Len::Exact, 1},
};
static_assert(sorted(kRootSpec));
enum { kRootA, kRootE, kRootIp, kRootQ, kRootR, kRootRo, kRootT, kRootV, kRootY };
using RootFound = Found<kRootSpec.size()>;
constexpr std::array<std::size_t, 4> kEveryMessageRows{kRootRo, kRootT, kRootV, kRootY};
constexpr std::array<std::size_t, 2> kQueryRows{kRootA, kRootQ};
constexpr std::array<std::size_t, 2> kResponseRows{kRootIp, kRootR};
constexpr std::array<std::size_t, 1> kErrorRows{kRootE};

constexpr std::array kPingSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
};
static_assert(sorted(kPingSpec));

// find_node, find_value and sample_infohashes (BEP 51) take the same arguments.
constexpr std::array kFindSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"target", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"want", Type::List, Need::Optional},
};
static_assert(sorted(kFindSpec));
enum { kFindId, kFindTarget, kFindWant };

constexpr std::array kStoreSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"k", Type::String, Need::Required},
    KeySpec{"seq", Type::Integer, Need::Required},
    KeySpec{"target", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"token", Type::String, Need::Required, Len::AtMost, kMaxTokenSize},
    KeySpec{"ttl", Type::Integer, Need::Optional},
    KeySpec{"v", Type::String, Need::Required},
};
static_assert(sorted(kStoreSpec));
enum { kStoreId, kStoreK, kStoreSeq, kStoreTarget, kStoreToken, kStoreTtl, kStoreV };

constexpr std::array kListenSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"seq", Type::Integer, Need::Optional},
    KeySpec{"tag", Type::String, Need::Required, Len::AtMost, kMaxTagSize},
    KeySpec{"target", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"token", Type::String, Need::Required, Len::AtMost, kMaxTokenSize},
    KeySpec{"ttl", Type::Integer, Need::Optional},
};
static_assert(sorted(kListenSpec));
enum { kListenId, kListenSeq, kListenTag, kListenTarget, kListenToken, kListenTtl };

constexpr std::array kNotifySpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"k", Type::String, Need::Required},
    KeySpec{"seq", Type::Integer, Need::Required},
    KeySpec{"tag", Type::String, Need::Required, Len::AtMost, kMaxTagSize},
    KeySpec{"target", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"v", Type::String, Need::Required},
};
static_assert(sorted(kNotifySpec));
enum { kNotifyId, kNotifyK, kNotifySeq, kNotifyTag, kNotifyTarget, kNotifyV };

constexpr std::array kGetPeersSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"info_hash", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"want", Type::List, Need::Optional},
};
static_assert(sorted(kGetPeersSpec));
enum { kGetPeersId, kGetPeersInfoHash, kGetPeersWant };

// BEP 5: "port" is required even with "implied_port" (which then overrides it).
constexpr std::array kAnnounceSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"implied_port", Type::Integer, Need::Optional},
    KeySpec{"info_hash", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"port", Type::Integer, Need::Required},
    KeySpec{"token", Type::String, Need::Required, Len::AtMost, kMaxTokenSize},
};
static_assert(sorted(kAnnounceSpec));
enum { kAnnounceId, kAnnounceImplied, kAnnounceInfoHash, kAnnouncePort, kAnnounceToken };

// BEP 44.
constexpr std::array kGetSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"seq", Type::Integer, Need::Optional},
    KeySpec{"target", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"want", Type::List, Need::Optional},
};
static_assert(sorted(kGetSpec));
enum { kGetId, kGetSeq, kGetTarget, kGetWant };

// "v" may be of any type: one bencoded value, kept as it travelled.
constexpr std::array kPutSpec{
    KeySpec{"cas", Type::Integer, Need::Optional},
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"k", Type::String, Need::Optional, Len::Exact, 32},
    KeySpec{"salt", Type::String, Need::Optional},
    KeySpec{"seq", Type::Integer, Need::Optional},
    KeySpec{"sig", Type::String, Need::Optional, Len::Exact, 64},
    KeySpec{"token", Type::String, Need::Required, Len::AtMost, kMaxTokenSize},
    any_value("v", Need::Required),
};
static_assert(sorted(kPutSpec));
enum { kPutCas, kPutId, kPutK, kPutSalt, kPutSeq, kPutSig, kPutToken, kPutV };

constexpr std::array kResultSpec{
    KeySpec{"id", Type::String, Need::Required, Len::Exact, kIdLen},
    KeySpec{"interval", Type::Integer, Need::Optional},
    KeySpec{"k", Type::String, Need::Optional},
    KeySpec{"nodes", Type::String, Need::Optional, Len::MultipleOf, kCompactNodeV4},
    KeySpec{"nodes6", Type::String, Need::Optional, Len::MultipleOf, kCompactNodeV6},
    KeySpec{"num", Type::Integer, Need::Optional},
    KeySpec{"samples", Type::String, Need::Optional, Len::MultipleOf, kIdLen},
    KeySpec{"seq", Type::Integer, Need::Optional},
    KeySpec{"sig", Type::String, Need::Optional, Len::Exact, 64},
    KeySpec{"token", Type::String, Need::Optional, Len::AtMost, kMaxTokenSize},
    any_value("v", Need::Optional),  // of any type in a BEP 44 answer
    KeySpec{"values", Type::List, Need::Optional},
};
static_assert(sorted(kResultSpec));
enum {
    kResultId,
    kResultInterval,
    kResultK,
    kResultNodes,
    kResultNodes6,
    kResultNum,
    kResultSamples,
    kResultSeq,
    kResultSig,
    kResultToken,
    kResultV,
    kResultValues
};

Method method_from_name(std::string_view name) {
    if (name == "ping") return Method::Ping;
    if (name == "find_node") return Method::FindNode;
    if (name == "find_value") return Method::FindValue;
    if (name == "store") return Method::Store;
    if (name == "get_peers") return Method::GetPeers;
    if (name == "announce_peer") return Method::AnnouncePeer;
    if (name == "get") return Method::Get;
    if (name == "put") return Method::Put;
    if (name == "sample_infohashes") return Method::SampleInfohashes;
    if (name == "listen") return Method::Listen;
    if (name == "notify") return Method::Notify;
    return Method::Unknown;
}

// Built here, not through NodeId::from_bytes: a NodeId returned in an optional and copied out is
// written in parts and read back whole, which stalls store forwarding.
NodeId id_of_bytes(const char* p) {
    NodeId::Bytes b;
    std::memcpy(b.data(), p, b.size());
    return NodeId(b);
}

NodeId id_of(View v) {
    return id_of_bytes(v.as_string().data());  // verify() checked the length
}

Unexpected<DecodeFailure> malformed(std::string reason) {
    return Unexpected<DecodeFailure>{{DecodeFailureKind::Malformed, {}, std::move(reason)}};
}

Want parse_want(View list) {
    Want w;
    list.for_each([&](View item) {
        if (item.as_string() == "n4") w.v4 = true;
        if (item.as_string() == "n6") w.v6 = true;
    });
    return w;
}

// Each method's arguments, checked against its table and written into `q` (whose `id` and `args`
// it sets); what is returned is the reason for a 203, empty if the arguments are good. The
// decoders below take the message being decoded the same way, so that it is built where the
// caller's result lies, never moved.
std::string ping_query(View args, Query& q) {
    Found<kPingSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kPingSpec, a); !why.empty()) return why;
    q.id = id_of(a[0]);
    q.args = PingArgs{};
    return {};
}

std::string find_query(View args, Method method, Query& q) {
    Found<kFindSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kFindSpec, a); !why.empty()) return why;
    std::optional<Want> want;
    if (a.has(kFindWant)) want = parse_want(a[kFindWant]);
    // Built member by member: GCC 12 misreads the variant's aggregate initialisation as
    // uninitialised under the sanitizers (-Wmaybe-uninitialized).
    q.id = id_of(a[kFindId]);
    if (method == Method::FindNode) {
        q.args = FindNodeArgs{id_of(a[kFindTarget]), want};
    } else if (method == Method::FindValue) {
        q.args = FindValueArgs{id_of(a[kFindTarget]), want};
    } else {
        q.args = SampleInfohashesArgs{id_of(a[kFindTarget]), want};
    }
    return {};
}

std::string store_query(View args, Query& q) {
    Found<kStoreSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kStoreSpec, a); !why.empty()) return why;
    auto& s = q.args.emplace<StoreArgs>();
    s.target = id_of(a[kStoreTarget]);
    s.token.assign(a[kStoreToken].as_string());
    s.key.assign(a[kStoreK].as_string());
    s.value.assign(a[kStoreV].as_string());
    s.seq = a[kStoreSeq].as_int();
    if (s.seq < 0) return "'seq' must not be negative";
    if (a.has(kStoreTtl)) {
        s.ttl = a[kStoreTtl].as_int();
        if (*s.ttl <= 0) return "'ttl' must be positive";
    }
    q.id = id_of(a[kStoreId]);
    return {};
}

std::string listen_query(View args, Query& q) {
    Found<kListenSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kListenSpec, a); !why.empty()) return why;
    auto& l = q.args.emplace<ListenArgs>();
    l.target = id_of(a[kListenTarget]);
    l.token.assign(a[kListenToken].as_string());
    l.tag.assign(a[kListenTag].as_string());
    if (a.has(kListenSeq)) {
        l.seq = a[kListenSeq].as_int();
        if (*l.seq < 0) return "'seq' must not be negative";
    }
    if (a.has(kListenTtl)) {
        l.ttl = a[kListenTtl].as_int();
        if (*l.ttl <= 0) return "'ttl' must be positive";
    }
    q.id = id_of(a[kListenId]);
    return {};
}

std::string notify_query(View args, Query& q) {
    Found<kNotifySpec.size()> a;
    if (auto why = verify(args, " in 'a'", kNotifySpec, a); !why.empty()) return why;
    auto& n = q.args.emplace<NotifyArgs>();
    n.target = id_of(a[kNotifyTarget]);
    n.tag.assign(a[kNotifyTag].as_string());
    n.key.assign(a[kNotifyK].as_string());
    n.value.assign(a[kNotifyV].as_string());
    n.seq = a[kNotifySeq].as_int();
    if (n.seq < 0) return "'seq' must not be negative";
    q.id = id_of(a[kNotifyId]);
    return {};
}

std::string get_peers_query(View args, Query& q) {
    Found<kGetPeersSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kGetPeersSpec, a); !why.empty()) return why;
    q.id = id_of(a[kGetPeersId]);
    GetPeersArgs g;
    g.info_hash = id_of(a[kGetPeersInfoHash]);
    if (a.has(kGetPeersWant)) g.want = parse_want(a[kGetPeersWant]);
    q.args = g;
    return {};
}

std::string announce_query(View args, Query& q) {
    Found<kAnnounceSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kAnnounceSpec, a); !why.empty()) return why;
    auto& p = q.args.emplace<AnnouncePeerArgs>();
    p.info_hash = id_of(a[kAnnounceInfoHash]);
    p.port = a[kAnnouncePort].as_int();
    p.implied_port = a.has(kAnnounceImplied) && a[kAnnounceImplied].as_int() != 0;
    p.token.assign(a[kAnnounceToken].as_string());
    if (!p.implied_port && (p.port < 1 || p.port > 65535)) {
        return "'port' must be from 1 to 65535";
    }
    q.id = id_of(a[kAnnounceId]);
    return {};
}

std::string get_query(View args, Query& q) {
    Found<kGetSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kGetSpec, a); !why.empty()) return why;
    GetArgs g;
    g.target = id_of(a[kGetTarget]);
    if (a.has(kGetSeq)) {
        g.seq = a[kGetSeq].as_int();
        if (*g.seq < 0) return "'seq' must not be negative";
    }
    if (a.has(kGetWant)) g.want = parse_want(a[kGetWant]);
    q.id = id_of(a[kGetId]);
    q.args = g;
    return {};
}

std::string put_query(View args, Query& q) {
    Found<kPutSpec.size()> a;
    if (auto why = verify(args, " in 'a'", kPutSpec, a); !why.empty()) return why;
    auto& p = q.args.emplace<PutArgs>();
    p.token.assign(a[kPutToken].as_string());
    p.value.assign(a[kPutV].raw());
    const bool any_mutable = a.has(kPutK) || a.has(kPutSeq) || a.has(kPutSig);
    if (any_mutable && !(a.has(kPutK) && a.has(kPutSeq) && a.has(kPutSig))) {
        return "a mutable put needs 'k', 'seq' and 'sig'";
    }
    if (!any_mutable && (a.has(kPutSalt) || a.has(kPutCas))) {
        return "'salt' and 'cas' are for mutable items (with 'k')";
    }
    if (any_mutable) {
        p.key.emplace(a[kPutK].as_string());
        p.seq = a[kPutSeq].as_int();
        if (*p.seq < 0) return "'seq' must not be negative";
        p.signature.emplace(a[kPutSig].as_string());
        if (a.has(kPutSalt)) p.salt.emplace(a[kPutSalt].as_string());
        if (a.has(kPutCas)) p.cas = a[kPutCas].as_int();
    }
    q.id = id_of(a[kPutId]);
    return {};
}

void unknown_query(View args, bool has_args, std::string_view name, Query& query) {
    // The sender's ID, if it sent one, so the node can still learn of it.
    View id;
    if (has_args && args.find("id", id)) {
        if (auto parsed = NodeId::from_bytes(id.as_string())) query.id = *parsed;
    }
    query.args = UnknownArgs{std::string(name)};
}

// A query's failure is a bad query (answered 203, with the transaction ID).
std::string decode_query(View root, RootFound& q, Message& msg) {
    if (auto why = check_rows("", kRootSpec, kQueryRows, q); !why.empty()) {
        // An unknown method needs no arguments to be answered 204; anything else is a bad query.
        View name;
        const bool unknown_method = root.find("q", name) && name.is_string() &&
                                    method_from_name(name.as_string()) == Method::Unknown;
        if (!unknown_method) return why;
        q.set(kRootQ, name);
    }
    const std::string_view name = q[kRootQ].as_string();
    const Method method = method_from_name(name);
    const View args = q[kRootA];
    auto& query = std::get<Query>(msg.body);
    switch (method) {
        case Method::Ping:
            return ping_query(args, query);
        case Method::FindNode:
        case Method::FindValue:
        case Method::SampleInfohashes:
            return find_query(args, method, query);
        case Method::Store:
            return store_query(args, query);
        case Method::GetPeers:
            return get_peers_query(args, query);
        case Method::AnnouncePeer:
            return announce_query(args, query);
        case Method::Get:
            return get_query(args, query);
        case Method::Put:
            return put_query(args, query);
        case Method::Listen:
            return listen_query(args, query);
        case Method::Notify:
            return notify_query(args, query);
        case Method::Unknown:
            unknown_query(args, q.has(kRootA), name, query);
            return {};
    }
    return {};
}

// BEP 5's compact peers: 6 bytes (IPv4) or 18 (IPv6) a string. A list with anything else in it
// is refused whole: re-encoding what we read must give back the datagram (docs/PROTOCOL.md).
std::string parse_values(View list, std::size_t max, std::vector<Endpoint>& out) {
    if (list.size() > max) return "too many entries in 'values'";
    out.reserve(list.size());
    std::string why;
    list.for_each([&](View v) {
        if (!why.empty()) return;
        const std::string_view raw = v.is_string() ? v.as_string() : std::string_view();
        auto ep = (raw.size() == kCompactPeerV4 || raw.size() == kCompactPeerV6)
                      ? Endpoint::from_compact(raw)
                      : std::nullopt;
        if (!ep) {
            why = "a peer in 'values' must be a 6- or 18-byte string";
            return;
        }
        out.push_back(*ep);
    });
    return why;
}

// The node lists of a response: "nodes" and "nodes6", and which were present though empty.
std::string parse_node_lists(const Found<kResultSpec.size()>& r, const Limits& limits,
                             Response& resp) {
    const std::string_view v4 = r.has(kResultNodes) ? r[kResultNodes].as_string() : "";
    const std::string_view v6 = r.has(kResultNodes6) ? r[kResultNodes6].as_string() : "";
    // One allocation for both lists (each bounded by limits.max_nodes, checked below).
    resp.nodes.reserve(std::min(v4.size() / kCompactNodeV4, limits.max_nodes) +
                       std::min(v6.size() / kCompactNodeV6, limits.max_nodes));
    if (r.has(kResultNodes)) {
        if (!parse_compact_nodes(v4, kCompactNodeV4, limits.max_nodes, resp.nodes)) {
            return "too many entries in 'nodes'";
        }
        resp.empty_lists.v4 = v4.empty();
    }
    if (r.has(kResultNodes6)) {
        if (!parse_compact_nodes(v6, kCompactNodeV6, limits.max_nodes, resp.nodes)) {
            return "too many entries in 'nodes6'";
        }
        resp.empty_lists.v6 = v6.empty();
    }
    return {};
}

// An answer's item: kadnode's find_value item ("k", a string "v", "seq", no "sig"), or BEP 44's
// fields (any other mix of "k", "v", "seq" and "sig").
std::string parse_item(const Found<kResultSpec.size()>& r, Response& resp) {
    const bool has_v = r.has(kResultV);
    const View v = r[kResultV];
    if (r.has(kResultSeq) && r[kResultSeq].as_int() < 0) return "'seq' in 'r' must not be negative";
    const std::int64_t seq = r.has(kResultSeq) ? r[kResultSeq].as_int() : 0;
    if (r.has(kResultK) && has_v && v.is_string() && !r.has(kResultSig)) {
        Item& item = resp.item.emplace();
        item.key.assign(r[kResultK].as_string());
        item.value.assign(v.as_string());
        item.seq = seq;
        return {};
    }
    if (!(r.has(kResultK) || has_v || r.has(kResultSeq) || r.has(kResultSig))) return {};
    DataItem& d = resp.data.emplace();
    if (has_v) d.value.emplace(v.raw());
    if (r.has(kResultK)) d.key.emplace(r[kResultK].as_string());
    if (r.has(kResultSeq)) d.seq = seq;
    if (r.has(kResultSig)) d.signature.emplace(r[kResultSig].as_string());
    return {};
}

// BEP 51's "interval", "num" and "samples": all three, or none.
std::string parse_samples(const Found<kResultSpec.size()>& r, const Limits& limits,
                          Response& resp) {
    const int present =
        int{r.has(kResultInterval)} + int{r.has(kResultNum)} + int{r.has(kResultSamples)};
    if (present == 0) return {};
    if (present != 3) return "a sample in 'r' needs 'interval', 'num' and 'samples'";
    Samples s;
    s.interval = r[kResultInterval].as_int();
    s.num = r[kResultNum].as_int();
    if (s.interval < 0 || s.num < 0) return "'interval' and 'num' in 'r' must not be negative";
    if (s.interval > kMaxSampleInterval) return "'interval' in 'r' is over 21600 (BEP 51)";
    const std::string_view raw = r[kResultSamples].as_string();
    if (raw.size() / kIdLen > limits.max_samples) return "too many entries in 'samples'";
    s.samples.reserve(raw.size() / kIdLen);
    for (std::size_t i = 0; i < raw.size(); i += kIdLen) {
        s.samples.push_back(id_of_bytes(raw.data() + i));
    }
    resp.samples = std::move(s);
    return {};
}

// A response's failure makes it malformed (dropped), as an error's does.
std::string decode_response(RootFound& top, Message& msg, const Limits& limits) {
    if (auto why = check_rows("", kRootSpec, kResponseRows, top); !why.empty()) return why;
    Found<kResultSpec.size()> r;
    if (auto why = verify(top[kRootR], " in 'r'", kResultSpec, r); !why.empty()) return why;
    if (top.has(kRootIp)) {
        // In place, as the node lists (parse_compact_nodes); an address of another length is none.
        if (!msg.requester.emplace().assign_compact(top[kRootIp].as_string())) {
            msg.requester.reset();
        }
    }
    auto& resp = std::get<Response>(msg.body);
    resp.id = id_of(r[kResultId]);
    if (auto why = parse_node_lists(r, limits, resp); !why.empty()) return why;
    if (r.has(kResultToken)) resp.token.emplace(r[kResultToken].as_string());
    if (r.has(kResultValues)) {
        if (auto why = parse_values(r[kResultValues], limits.max_values, resp.values.emplace());
            !why.empty()) {
            return why;
        }
    }
    if (auto why = parse_item(r, resp); !why.empty()) return why;
    return parse_samples(r, limits, resp);
}

std::string decode_error(RootFound& top, Message& msg) {
    if (auto why = check_rows("", kRootSpec, kErrorRows, top); !why.empty()) return why;
    const View e = top[kRootE];
    if (e.size() < 2) return "'e' must be [code, message]";
    const View code_view = e.at(0);
    const View message = e.at(1);
    if (!code_view.is_int() || !message.is_string()) return "'e' must be [code, message]";
    const std::int64_t code = code_view.as_int();
    if (code < 0 || code > 999) return "error code out of range";
    auto& error = std::get<Error>(msg.body);
    error.code = static_cast<int>(code);
    error.message.assign(message.as_string());
    return {};
}

// A message of kind `y` ('q', 'r' or 'e'), empty.
Expected<Message, DecodeFailure> message_of_kind(char y) {
    if (y == 'r')
        return Expected<Message, DecodeFailure>(std::in_place, std::in_place_type<Response>);
    if (y == 'e') return Expected<Message, DecodeFailure>(std::in_place, std::in_place_type<Error>);
    return Expected<Message, DecodeFailure>(std::in_place, std::in_place_type<Query>);
}

}  // namespace

// A public signature (kad/krpc.hpp), called with the named constants kCompactNodeV4/V6.
// NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
bool parse_compact_nodes(std::string_view raw, std::size_t entry_size, std::size_t max_entries,
                         std::vector<NodeInfo>& out) {
    const std::size_t count = raw.size() / entry_size;
    if (count > max_entries) return false;
    out.reserve(out.size() + count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::string_view entry = raw.substr(i * entry_size, entry_size);
        // Written into the vector in place: copying a NodeInfo just built reads back the parts
        // just written, which stalls store forwarding (most of a find_node reply's decode).
        NodeInfo& n = out.emplace_back();
        n.id = id_of_bytes(entry.data());
        n.endpoint.assign_compact(entry.substr(NodeId::kBytes));  // entry_size is 26 or 38
    }
    return true;
}

Expected<Message, DecodeFailure> decode(std::string_view datagram, bencode::Document& scratch,
                                        const Limits& limits) {
    auto root = scratch.decode(datagram, limits.bencode);
    if (!root) return malformed("bencode: " + root.error().message());
    if (!root->is_dict()) return malformed("not a dictionary");
    RootFound top;
    find_rows(*root, kRootSpec, top);
    if (auto why = check_rows("", kRootSpec, kEveryMessageRows, top); !why.empty()) {
        return malformed(why);
    }

    const char y = top[kRootY].as_string()[0];
    if (y != 'q' && y != 'r' && y != 'e') return malformed("'y' must be q, r or e");

    // The message is built inside the result, its body of the right kind from the start.
    Expected<Message, DecodeFailure> result = message_of_kind(y);
    Message& msg = *result;
    msg.transaction.assign(top[kRootT].as_string());
    if (top.has(kRootV)) msg.version.emplace(top[kRootV].as_string());
    // BEP 43: "ro" is 1 or absent; any other integer is read as not read-only.
    msg.read_only = top.has(kRootRo) && top[kRootRo].as_int() == 1;
    auto kind = DecodeFailureKind::Malformed;
    std::string why;
    if (y == 'q') {
        kind = DecodeFailureKind::BadQuery;
        why = decode_query(*root, top, msg);
    } else if (y == 'r') {
        why = decode_response(top, msg, limits);
    } else {
        why = decode_error(top, msg);
    }
    if (!why.empty()) {
        std::string transaction =
            kind == DecodeFailureKind::BadQuery ? std::move(msg.transaction) : std::string();
        result = Unexpected<DecodeFailure>{{kind, std::move(transaction), std::move(why)}};
    }
    return result;
}

Expected<Message, DecodeFailure> decode(std::string_view datagram, const Limits& limits) {
    bencode::Document scratch;
    return decode(datagram, scratch, limits);
}

std::string validate_response(Method method, const Response& r) {
    // An empty "nodes" is a valid answer from a node that knows nobody; an item in a find_node
    // answer is simply not looked at. A find_value answer without a token is that of a node
    // that does not speak kadnode's methods and answered as if asked find_node: it routes, it
    // stores nothing.
    if (method == Method::GetPeers && !r.token) return "get_peers response without 'token'";
    if (method == Method::Get && !r.token) return "get response without 'token'";
    if (method == Method::SampleInfohashes && !r.samples) {
        return "sample_infohashes response without 'samples'";
    }
    return {};
}

}  // namespace kad::krpc
