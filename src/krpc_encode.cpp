// KRPC encoding (kad/krpc.hpp): the canonical bytes of a message, written key by key in byte
// order. Decoding, and the tables of what each message must carry, are in krpc.cpp.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string>
#include <type_traits>
#include <variant>

#include "kad/krpc.hpp"

namespace kad::krpc {

// ---- Encoding -------------------------------------------------------------------------------
// Keys are written in byte order by hand; the tests check the output against the generic
// canonical encoder.

namespace {

std::size_t compact_size(const NodeInfo& n) {
    return n.endpoint.is_v6() ? kCompactNodeV6 : kCompactNodeV4;
}

// A compact node (ID, address, port) at `p`, which has room for compact_size(n) bytes.
void write_compact_node(char* p, const NodeInfo& n) {
    const std::size_t size = compact_size(n);
    std::memcpy(p, n.id.bytes().data(), NodeId::kBytes);
    std::memcpy(p + NodeId::kBytes, n.endpoint.address_bytes().data(), size - NodeId::kBytes - 2);
    p[size - 2] = static_cast<char>(n.endpoint.port() >> 8);
    p[size - 1] = static_cast<char>(n.endpoint.port() & 0xff);
}

void append_compact_node(std::string& out, const NodeInfo& n) {
    const std::size_t at = out.size();
    out.resize(at + compact_size(n));
    write_compact_node(out.data() + at, n);
}

}  // namespace

void append_compact_nodes(std::string& v4, std::string& v6, const std::vector<NodeInfo>& nodes) {
    for (const auto& n : nodes) append_compact_node(n.endpoint.is_v6() ? v6 : v4, n);
}

namespace {

using bencode::append_int;
using bencode::append_string;

// A dictionary key with its length prefix, made at compile time ("target" → "6:target"), so
// that writing one is a single append.
class Key {
public:
    template <std::size_t N>
    consteval Key(const char (&k)[N]) {  // NOLINT(google-explicit-constructor): key(out, "id")
        static_assert(N - 1 < 100, "a key of fewer than 100 bytes");
        std::size_t n = 0;
        if (N - 1 >= 10) bytes_[n++] = static_cast<char>('0' + (N - 1) / 10);
        bytes_[n++] = static_cast<char>('0' + (N - 1) % 10);
        bytes_[n++] = ':';
        for (std::size_t i = 0; i + 1 < N; ++i) bytes_[n++] = k[i];
        size_ = n;
    }
    std::string_view view() const { return {bytes_.data(), size_}; }

private:
    std::array<char, 24> bytes_{};
    std::size_t size_ = 0;
};

void key(std::string& out, const Key& k) {
    out.append(k.view());
}

// A string's length prefix ("400:"), for a string appended in pieces after it.
void append_length_prefix(std::string& out, std::size_t length) {
    char buf[24];
    char* end = std::to_chars(buf, buf + sizeof buf - 1, length).ptr;
    *end++ = ':';
    out.append(buf, end);
}

// "nodes" or "nodes6": the compact nodes (ID, address, port) of one family, written straight into
// `out`, grown once (a response is encoded for every query answered).
void append_nodes(std::string& out, const Key& name, const std::vector<NodeInfo>& nodes, bool v6,
                  bool even_if_empty) {
    const std::size_t entry = v6 ? kCompactNodeV6 : kCompactNodeV4;
    const auto count = static_cast<std::size_t>(std::count_if(
        nodes.begin(), nodes.end(), [v6](const NodeInfo& n) { return n.endpoint.is_v6() == v6; }));
    if (count == 0 && !even_if_empty) return;
    key(out, name);
    append_length_prefix(out, count * entry);
    std::size_t at = out.size();
    out.resize(at + count * entry);
    for (const auto& n : nodes) {
        if (n.endpoint.is_v6() != v6) continue;
        write_compact_node(out.data() + at, n);
        at += entry;
    }
}

void append_want(std::string& out, const std::optional<Want>& want) {
    if (!want) return;
    key(out, "want");
    out.push_back('l');
    if (want->v4) append_string(out, "n4");
    if (want->v6) append_string(out, "n6");
    out.push_back('e');
}

void append_put_args(std::string& out, const NodeId& id, const PutArgs& a) {
    if (a.cas) {
        key(out, "cas");
        append_int(out, *a.cas);
    }
    key(out, "id");
    append_string(out, id.raw());
    if (a.key) {
        key(out, "k");
        append_string(out, *a.key);
    }
    if (a.salt) {
        key(out, "salt");
        append_string(out, *a.salt);
    }
    if (a.seq) {
        key(out, "seq");
        append_int(out, *a.seq);
    }
    if (a.signature) {
        key(out, "sig");
        append_string(out, *a.signature);
    }
    key(out, "token");
    append_string(out, a.token);
    key(out, "v");
    out.append(a.value);  // already bencoded
}

// A kadnode value in a query's arguments, after "id": a store's (with its token, perhaps a
// ttl) or a notify's (neither).
// The strings are views: a store's value is not copied to be written.
struct ValueArgs {
    std::string_view key;
    std::string_view value;
    std::int64_t seq = 0;
};
void append_value_args(std::string& out, const ValueArgs& item, const NodeId& target,
                       const std::string* token, std::optional<std::int64_t> ttl,
                       const std::string* tag = nullptr) {
    key(out, "k");
    append_string(out, item.key);
    key(out, "seq");
    append_int(out, item.seq);
    if (tag) {
        key(out, "tag");
        append_string(out, *tag);
    }
    key(out, "target");
    append_string(out, target.raw());
    if (token) {
        key(out, "token");
        append_string(out, *token);
    }
    if (ttl) {
        key(out, "ttl");
        append_int(out, *ttl);
    }
    key(out, "v");
    append_string(out, item.value);
}

void append_args(std::string& out, const Query& q) {
    out.push_back('d');
    if (const auto* put = std::get_if<PutArgs>(&q.args)) {
        // "cas" sorts before "id".
        append_put_args(out, q.id, *put);
        out.push_back('e');
        return;
    }
    key(out, "id");
    append_string(out, q.id.raw());
    std::visit(
        [&](const auto& a) {
            using A = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<A, FindNodeArgs> || std::is_same_v<A, FindValueArgs> ||
                          std::is_same_v<A, SampleInfohashesArgs>) {
                key(out, "target");
                append_string(out, a.target.raw());
                append_want(out, a.want);
            } else if constexpr (std::is_same_v<A, GetArgs>) {
                if (a.seq) {
                    key(out, "seq");
                    append_int(out, *a.seq);
                }
                key(out, "target");
                append_string(out, a.target.raw());
                append_want(out, a.want);
            } else if constexpr (std::is_same_v<A, GetPeersArgs>) {
                key(out, "info_hash");
                append_string(out, a.info_hash.raw());
                append_want(out, a.want);
            } else if constexpr (std::is_same_v<A, AnnouncePeerArgs>) {
                if (a.implied_port) {
                    key(out, "implied_port");
                    append_int(out, 1);
                }
                key(out, "info_hash");
                append_string(out, a.info_hash.raw());
                key(out, "port");
                append_int(out, a.port);
                key(out, "token");
                append_string(out, a.token);
            } else if constexpr (std::is_same_v<A, StoreArgs>) {
                append_value_args(out, {a.key, a.value, a.seq}, a.target, &a.token, a.ttl);
            } else if constexpr (std::is_same_v<A, ListenArgs>) {
                if (a.seq) {
                    key(out, "seq");
                    append_int(out, *a.seq);
                }
                key(out, "tag");
                append_string(out, a.tag);
                key(out, "target");
                append_string(out, a.target.raw());
                key(out, "token");
                append_string(out, a.token);
                if (a.ttl) {
                    key(out, "ttl");
                    append_int(out, *a.ttl);
                }
            } else if constexpr (std::is_same_v<A, NotifyArgs>) {
                append_value_args(out, {a.key, a.value, a.seq}, a.target, nullptr, std::nullopt,
                                  &a.tag);
            }
        },
        q.args);
    out.push_back('e');
}

std::string_view query_name(const Query& q) {
    if (const auto* u = std::get_if<UnknownArgs>(&q.args)) return u->method;
    return method_name(q.method());
}

void append_results(std::string& out, const Response& r) {
    out.push_back('d');
    key(out, "id");
    append_string(out, r.id.raw());
    const DataItem* d = r.data ? &*r.data : nullptr;
    if (r.samples) {
        key(out, "interval");
        append_int(out, r.samples->interval);
    }
    if (r.item) {
        key(out, "k");
        append_string(out, r.item->key);
    } else if (d && d->key) {
        key(out, "k");
        append_string(out, *d->key);
    }
    append_nodes(out, "nodes", r.nodes, false, r.empty_lists.v4);
    append_nodes(out, "nodes6", r.nodes, true, r.empty_lists.v6);
    if (r.samples) {
        key(out, "num");
        append_int(out, r.samples->num);
        key(out, "samples");
        append_length_prefix(out, r.samples->samples.size() * NodeId::kBytes);
        for (const NodeId& h : r.samples->samples) out.append(h.raw());
    }
    if (r.item) {
        key(out, "seq");
        append_int(out, r.item->seq);
    } else if (d && d->seq) {
        key(out, "seq");
        append_int(out, *d->seq);
    }
    if (!r.item && d && d->signature) {
        key(out, "sig");
        append_string(out, *d->signature);
    }
    if (r.token) {
        key(out, "token");
        append_string(out, *r.token);
    }
    if (r.item) {
        key(out, "v");
        append_string(out, r.item->value);
    } else if (d && d->value) {
        key(out, "v");
        out.append(*d->value);  // already bencoded
    }
    if (r.values) {
        key(out, "values");
        out.push_back('l');
        for (const Endpoint& p : *r.values) append_string(out, p.compact());
        out.push_back('e');
    }
    out.push_back('e');
}

void append_tail(std::string& out, const Message& m, char y) {
    if (m.read_only) {
        key(out, "ro");
        append_int(out, 1);
    }
    key(out, "t");
    append_string(out, m.transaction);
    if (m.version) {
        key(out, "v");
        append_string(out, *m.version);
    }
    key(out, "y");
    const char end[] = {'1', ':', y, 'e'};  // the value, and the message's end
    out.append(end, sizeof end);
}

}  // namespace

void encode_to(std::string& out, const Message& m) {
    out.push_back('d');
    std::visit(
        [&](const auto& body) {
            using B = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<B, Query>) {
                key(out, "a");
                append_args(out, body);
                key(out, "q");
                append_string(out, query_name(body));
                append_tail(out, m, 'q');
            } else if constexpr (std::is_same_v<B, Response>) {
                if (m.requester) {
                    key(out, "ip");
                    append_string(out, m.requester->compact());
                }
                key(out, "r");
                append_results(out, body);
                append_tail(out, m, 'r');
            } else {
                key(out, "e");
                out.push_back('l');
                append_int(out, body.code);
                append_string(out, body.message);
                out.push_back('e');
                append_tail(out, m, 'e');
            }
        },
        m.body);
}

std::string encode(const Message& m) {
    std::string out;
    encode_to(out, m);
    return out;
}

}  // namespace kad::krpc
