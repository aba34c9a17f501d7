#pragma once
// KRPC messages (BEP 5 framing) as typed values, and their strict decoding and canonical encoding.
//
// What each message must carry is stated once, in tables in krpc.cpp; a failed decode names the
// missing or mistyped key. Unknown keys are ignored, and an unknown query method decodes as
// Method::Unknown so that the node can answer 204. The wire format is described in
// docs/PROTOCOL.md.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kad/bencode.hpp"
#include "kad/endpoint.hpp"
#include "kad/expected.hpp"
#include "kad/node_id.hpp"

namespace kad::krpc {

// BEP 5's ping, find_node, get_peers and announce_peer, BEP 44's get and put, BEP 51's
// sample_infohashes, and kadnode's own find_value, store, listen and notify. The order is that
// of Query::Args.
enum class Method : std::uint8_t {
    Ping,
    FindNode,
    FindValue,
    Store,
    GetPeers,
    AnnouncePeer,
    Get,
    Put,
    SampleInfohashes,
    Listen,
    Notify,
    Unknown,
};
inline constexpr std::size_t kMethods = 12;
std::string_view method_name(Method m) noexcept;

// KRPC error codes (BEP 5, BEP 44).
enum ErrorCode : int {
    kGenericError = 201,
    kServerError = 202,
    kProtocolError = 203,  // malformed arguments, bad token, key not matching target
    kMethodUnknown = 204,
    kMessageTooBig = 205,     // key or value over the limits
    kInvalidSignature = 206,  // BEP 44
    kSaltTooBig = 207,        // BEP 44
    kCasMismatch = 301,       // BEP 44: "cas" is not the seq stored
    kSeqTooLow = 302,         // sequence number less than (or equal to, with another value) current
};

// Structural bounds, independent of a node's configurable policy limits.
inline constexpr std::size_t kMaxTransactionId = 16;  // longer "t" is dropped: we echo it
inline constexpr std::size_t kMaxTokenSize = 64;
inline constexpr std::size_t kMaxVersionSize = 64;
inline constexpr std::size_t kCompactNodeV4 = 26;  // 20-byte ID + 4-byte address + 2-byte port
inline constexpr std::size_t kCompactPeerV4 = 6;   // 4-byte address + 2-byte port
inline constexpr std::size_t kCompactPeerV6 = 18;  // 16-byte address + 2-byte port
inline constexpr std::size_t kCompactNodeV6 = 38;  // 20-byte ID + 16-byte address + 2-byte port
inline constexpr std::int64_t kMaxSampleInterval = 21600;  // BEP 51: seconds, at most 6 hours

struct NodeInfo {
    NodeId id;
    Endpoint endpoint;
    friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

// Which address families a find_node/find_value asker wants (BEP 32 "want": "n4", "n6").
struct Want {
    bool v4 = false;
    bool v6 = false;
    friend bool operator==(const Want&, const Want&) = default;
};

struct PingArgs {
    friend bool operator==(const PingArgs&, const PingArgs&) = default;
};
struct FindNodeArgs {
    NodeId target;
    std::optional<Want> want;
    friend bool operator==(const FindNodeArgs&, const FindNodeArgs&) = default;
};
struct FindValueArgs {
    NodeId target;
    std::optional<Want> want;
    friend bool operator==(const FindValueArgs&, const FindValueArgs&) = default;
};
struct StoreArgs {
    NodeId target;  // must equal SHA-1(key)
    std::string token;
    std::string key;
    std::string value;
    std::int64_t seq = 0;
    std::optional<std::int64_t> ttl;  // seconds
    friend bool operator==(const StoreArgs&, const StoreArgs&) = default;
};
// BEP 5: who is in the swarm of `info_hash`?
struct GetPeersArgs {
    NodeId info_hash;
    std::optional<Want> want;
    friend bool operator==(const GetPeersArgs&, const GetPeersArgs&) = default;
};
// BEP 5: the sender is in the swarm of `info_hash`, at `port` of its address (or, with
// implied_port, at the source port of this datagram).
struct AnnouncePeerArgs {
    NodeId info_hash;
    std::int64_t port = 0;
    bool implied_port = false;
    std::string token;
    friend bool operator==(const AnnouncePeerArgs&, const AnnouncePeerArgs&) = default;
};
// BEP 44: the item at `target`; with `seq`, only if the one held is newer.
struct GetArgs {
    NodeId target;
    std::optional<std::int64_t> seq;
    std::optional<Want> want;
    friend bool operator==(const GetArgs&, const GetArgs&) = default;
};
// BEP 44: store an item. Immutable: only "v". Mutable: "k", "seq" and "sig" too, perhaps "salt"
// and "cas".
struct PutArgs {
    std::string token;
    std::string value;                     // "v": one bencoded value, its bytes as they travelled
    std::optional<std::string> key;        // "k": the 32-byte Ed25519 public key
    std::optional<std::string> salt;       // at most 64 bytes are accepted (else 207)
    std::optional<std::int64_t> seq;       // not negative
    std::optional<std::string> signature;  // "sig": 64 bytes
    std::optional<std::int64_t> cas;       // the seq the writer expects to replace
    bool is_mutable() const noexcept { return key.has_value(); }
    friend bool operator==(const PutArgs&, const PutArgs&) = default;
};
// BEP 51: a sample of the info-hashes the node holds, and its nodes nearest `target`.
struct SampleInfohashesArgs {
    NodeId target;
    std::optional<Want> want;
    friend bool operator==(const SampleInfohashesArgs&, const SampleInfohashesArgs&) = default;
};
inline constexpr std::size_t kMaxTagSize = 20;  // a listen's tag, echoed in its notifies

// kadnode: tell the sender of each newer version of the value at `target` stored here (by
// notify, carrying `tag`), for `ttl` seconds (the receiver caps it). The token proves the
// sender's address; `seq`, the newest version it knows.
struct ListenArgs {
    NodeId target;
    std::string token;
    std::string tag;  // chosen by the watcher, at most kMaxTagSize bytes
    std::optional<std::int64_t> seq;
    std::optional<std::int64_t> ttl;  // seconds
    friend bool operator==(const ListenArgs&, const ListenArgs&) = default;
};
// kadnode: a newer version of a value the receiver listens to was stored at the sender.
struct NotifyArgs {
    NodeId target;    // must equal SHA-1(key)
    std::string tag;  // the listen's
    std::string key;
    std::string value;
    std::int64_t seq = 0;
    friend bool operator==(const NotifyArgs&, const NotifyArgs&) = default;
};
struct UnknownArgs {
    std::string method;
    friend bool operator==(const UnknownArgs&, const UnknownArgs&) = default;
};

struct Query {
    using Args = std::variant<PingArgs, FindNodeArgs, FindValueArgs, StoreArgs, GetPeersArgs,
                              AnnouncePeerArgs, GetArgs, PutArgs, SampleInfohashesArgs, ListenArgs,
                              NotifyArgs, UnknownArgs>;
    NodeId id;  // the sender's ID
    Args args;
    Method method() const noexcept { return static_cast<Method>(args.index()); }
    friend bool operator==(const Query&, const Query&) = default;
};

struct Item {
    std::string key;
    std::string value;
    std::int64_t seq = 0;
    friend bool operator==(const Item&, const Item&) = default;
};

// BEP 44's item fields in a get answer. A mutable item has all four; an immutable one only "v";
// an item no newer than the "seq" asked for only "seq".
struct DataItem {
    std::optional<std::string> value;  // "v", bencoded, its bytes as they travelled
    std::optional<std::string> key;    // "k"
    std::optional<std::int64_t> seq;
    std::optional<std::string> signature;  // "sig"
    friend bool operator==(const DataItem&, const DataItem&) = default;
};

// BEP 51's answer: how long the sample stays the same, how many info-hashes the node holds, and
// the sample.
struct Samples {
    std::int64_t interval = 0;  // seconds
    std::int64_t num = 0;
    std::vector<NodeId> samples;
    friend bool operator==(const Samples&, const Samples&) = default;
};

// A response's results. Which ones a method needs is checked by validate_response(), once the
// transaction (and so the method asked) is known.
struct Response {
    NodeId id{};
    std::vector<NodeInfo> nodes{};  // IPv4 travel in "nodes", IPv6 in "nodes6"
    std::optional<std::string> token{};
    std::optional<Item> item{};
    // BEP 5 get_peers: peers of the swarm ("values", compact). Present, even empty, or absent.
    std::optional<std::vector<Endpoint>> values{};
    // The node lists to carry even when empty: those of the families asked for (BEP 5 wants
    // "nodes" in find_node and get_peers answers; BEP 32 the same of "nodes6" for IPv6). Decoding
    // sets a family only for a list that was there and empty, so that encoding gives back the same
    // bytes.
    Want empty_lists{};
    // BEP 44 get: the item's fields. Decoding tells it from kadnode's `item` (find_value) so: an
    // answer with "k" and a string "v" but no "sig" is kadnode's; any other with "k", "v", "seq"
    // or "sig" is BEP 44's. At most one of `item` and `data` is set.
    std::optional<DataItem> data{};
    // BEP 51: "interval", "num" and "samples", all three or none.
    std::optional<Samples> samples{};
    friend bool operator==(const Response&, const Response&) = default;
};

struct Error {
    int code = kGenericError;
    std::string message;
    friend bool operator==(const Error&, const Error&) = default;
};

struct Message {
    // Provided, not defaulted: value-initialisation (std::variant's in-place construction, as in
    // the decoder's Expected<Message>) then runs the members' initialisers only, instead of
    // zeroing all of a Message first.
    Message() noexcept {}  // NOLINT(modernize-use-equals-default)
    // A message whose body is a B (Query, Response or Error) from the start, as the decoder
    // makes it: no Query built only to be replaced.
    template <class B>
    explicit Message(std::in_place_type_t<B> kind) noexcept : body(kind) {}

    std::string transaction;             // "t", echoed verbatim
    std::optional<std::string> version;  // "v", the client's version
    std::optional<Endpoint> requester;   // "ip" (BEP 42): a responder's view of our address
    std::variant<Query, Response, Error> body;
    // "ro": 1 (BEP 43): the sender is read-only, it answers no queries. Sent with queries.
    bool read_only = false;
    friend bool operator==(const Message&, const Message&) = default;
};

enum class DecodeFailureKind : std::uint8_t {
    Malformed,  // not a KRPC message we can attribute: drop, do not answer
    BadQuery,   // a query with a usable "t" but bad contents: answer 203 with the reason
};

struct DecodeFailure {
    DecodeFailureKind kind;
    std::string transaction;  // set for BadQuery
    std::string reason;
};

struct Limits {
    bencode::Limits bencode;
    std::size_t max_nodes = 64;     // compact node entries in one "nodes" or "nodes6"
    std::size_t max_values = 256;   // peers in one "values"
    std::size_t max_samples = 256;  // info-hashes in one "samples"
};

// `scratch` is reused between calls to avoid allocation; the result owns its data.
Expected<Message, DecodeFailure> decode(std::string_view datagram, bencode::Document& scratch,
                                        const Limits& limits = {});
Expected<Message, DecodeFailure> decode(std::string_view datagram, const Limits& limits = {});

// What `method`'s response must carry beyond "id": get_peers and get need a token,
// sample_infohashes its sample (find_value's token may be missing: a foreign node's answer). No
// nodes at all is acceptable (a node that knows nobody else answers so), and an item in any other
// response is ignored. Returns an empty string if the response is acceptable, else the reason.
std::string validate_response(Method method, const Response& r);

// Canonical encoding (keys in byte order). Appends to `out`.
void encode_to(std::string& out, const Message& m);
std::string encode(const Message& m);

// Compact node lists.
void append_compact_nodes(std::string& v4, std::string& v6, const std::vector<NodeInfo>& nodes);
bool parse_compact_nodes(std::string_view raw, std::size_t entry_size, std::size_t max_entries,
                         std::vector<NodeInfo>& out);

}  // namespace kad::krpc
