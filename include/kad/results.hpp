#pragma once
// What the node's operations report. Every result says whether it worked and, if not, why: in
// words for a person (`error`) and as a value a program can branch on (`code`).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kad/bep44.hpp"
#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/node_id.hpp"
#include "kad/time.hpp"

namespace kad {

// Why an operation failed. The names (to_string) are stable: kadnode prints them as the "code"
// of a failed command's JSON.
enum class Failure : std::uint8_t {
    None,          // "ok": it worked
    Cancelled,     // "cancelled": the node is stopping (cancel_all), or Node::cancel
    Closed,        // "closed": the node was closed before the operation started
    Busy,          // "busy": a local bound, too many queries or lookups in flight
    NoContacts,    // "no_contacts": the routing table is empty, there is nobody to ask
    Timeout,       // "timeout": no answer in time, from the node asked or from any node a
                   // lookup asked
    Refused,       // "refused": answered with a KRPC error (a put: by every node)
    Unreachable,   // "unreachable": this address cannot be sent to from this socket
    BadArgument,   // "bad_argument": the caller's input (a key or value over the limits, ...)
    BadResponse,   // "bad_response": an answer that breaks the protocol (another key's item,
                   // no token, a missing field)
    WrongId,       // "wrong_id": the node at that address answered with another ID
    NotFound,      // "not_found": a get that asked the nodes nearest the key; none holds it
    SeqExhausted,  // "seq_exhausted": the newest version has the largest seq there is
    Superseded,    // "superseded": a newer version than the one being put is in the network
};
std::string_view to_string(Failure f) noexcept;

struct Outcome {
    bool ok = false;
    std::string error;             // for a person; empty when ok
    Failure code = Failure::None;  // for a program; None when ok

    void fail(Failure why, std::string text) {
        ok = false;
        code = why;
        error = std::move(text);
    }
};

struct PingResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    Duration rtt{};
};

struct FindNodeResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    std::vector<krpc::NodeInfo> nodes;
    Duration rtt{};
};

struct FindValueResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    std::optional<krpc::Item> item;
    std::vector<krpc::NodeInfo> nodes;
    std::optional<std::string> token;
    Duration rtt{};
};

struct StoreRpcResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    int error_code = 0;  // the node's KRPC error code when it refused
    std::int64_t seq = 0;
    Duration rtt{};
};

// BEP 5 get_peers to one node: peers of the swarm ("values"), or nodes nearer the info-hash.
struct GetPeersResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    std::vector<Endpoint> values;
    std::vector<krpc::NodeInfo> nodes;
    std::optional<std::string> token;
    int error_code = 0;  // the node's KRPC error code when it refused
    Duration rtt{};
};

// BEP 5 announce_peer to one node (after a get_peers for its token).
struct AnnouncePeerResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    int error_code = 0;  // the node's KRPC error code when it refused
    Duration rtt{};
};

// BEP 51 sample_infohashes to one node: a sample of the info-hashes it holds.
struct SampleInfohashesResult : Outcome {
    NodeId id;
    Endpoint endpoint;
    Duration interval{};   // until its sample changes
    std::int64_t num = 0;  // info-hashes it holds
    std::vector<NodeId> samples;
    std::vector<krpc::NodeInfo> nodes;  // its contacts nearest the target
    Duration rtt{};
};

// An iterative get_peers: the peers every node on the way knew of, and the k nearest nodes.
struct FindPeersResult : Outcome {
    NodeId info_hash;
    std::vector<Endpoint> peers;        // distinct, in the order found
    std::vector<krpc::NodeInfo> nodes;  // nearest first
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
};

// An iterative announce: a get_peers lookup, then announce_peer to the k nearest.
struct AnnounceResult : Outcome {
    NodeId info_hash;
    std::uint16_t port = 0;       // announced; 0: the port our datagrams come from
    std::size_t announced = 0;    // nodes that took it
    std::size_t refused = 0;      // nodes that answered with an error
    std::size_t failed = 0;       // nodes that did not answer
    std::vector<Endpoint> peers;  // peers the lookup met on the way
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
};

// BEP 44, iterative: the item at a target, checked (its hash, and a mutable item's signature);
// of mutable items, the highest seq found.
struct ItemGetResult : Outcome {
    NodeId target;
    std::optional<bep44::Item> item;  // its salt is the one asked for
    krpc::NodeInfo from;              // who returned it (our own ID if from our own store)
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
};

// BEP 44, iterative: a get lookup for the tokens (and a mutable item's current seq), then put to
// the k nearest.
struct ItemPutResult : Outcome {
    NodeId target;
    bep44::Item item;         // as put (a mutable item: with the seq and signature used)
    std::size_t stored = 0;   // nodes that accepted it
    std::size_t refused = 0;  // nodes that answered with an error
    std::size_t failed = 0;   // nodes that did not answer the put
    std::vector<std::pair<krpc::NodeInfo, std::string>> refusals;  // who refused and why
    bool stored_locally = false;
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
};

struct LookupResult : Outcome {
    NodeId target;
    std::vector<krpc::NodeInfo> nodes;  // nearest first
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
    // The least time a lookup could have taken to these nodes, given the round trips it met
    // (Lookup::bound): elapsed / bound is how far from ideal it ran.
    Duration bound{};
};

struct GetResult : Outcome {
    std::string key;
    std::optional<krpc::Item> item;
    krpc::NodeInfo from;  // who returned it (our own ID if it came from our store)
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
    Duration bound{};  // the round trips on the path to the value (LookupResult::bound)
};

// One round of a watch (Node::watch): the newest version the k nearest hold, and which of the
// nearest holders took our listen.
struct WatchRoundResult : Outcome {
    std::optional<krpc::Item> item;
    krpc::NodeInfo from;                    // who had it
    bool here = false;                      // ... we did: the newest is our own copy
    std::vector<krpc::NodeInfo> asked;      // holders asked to listen
    std::vector<krpc::NodeInfo> listening;  // ... that will tell us of the next version
    std::size_t queries = 0;
};

struct PutResult : Outcome {
    std::string key;
    std::int64_t seq = 0;
    std::size_t stored = 0;   // nodes that accepted it
    std::size_t refused = 0;  // nodes that answered with an error
    std::size_t failed = 0;   // nodes that did not answer the store
    std::vector<std::pair<krpc::NodeInfo, std::string>> refusals;  // who refused and why
    bool stored_locally = false;
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
    Duration bound{};  // its lookup's (LookupResult::bound); the stores come after
};

struct BootstrapResult : Outcome {
    std::size_t contacts = 0;
    Duration elapsed{};
};

struct HandoffResult : Outcome {
    std::size_t items = 0;        // items we held
    std::size_t asked = 0;        // (item, node) pairs: each of an item's k nearest
    std::size_t stored = 0;       // given the item
    std::size_t already_had = 0;  // had this version already
    std::size_t failed = 0;       // did not answer, or refused
    std::size_t short_items = 0;  // items that ended on fewer than k nodes
    Duration elapsed{};
};

// One step of an iterative lookup, as it happens: what `ln --trace`, `lv --trace`,
// `get --trace` and `put --trace` print.
struct TraceEvent {
    enum class Kind : std::uint8_t {
        Query,        // a query sent
        Reply,        // its answer, believed
        SoftTimeout,  // no answer yet: another candidate is asked meanwhile
        Timeout,      // no answer by the hard timeout
        Error,        // a KRPC error, an answer that could not be believed, another node's ID
        Unsendable,   // the query could not be sent (no socket for its family, too many open)
        Done,         // the lookup ended: queries and hops
    };
    Kind kind = Kind::Query;
    NodeId id{};
    Endpoint endpoint{};
    krpc::Method method = krpc::Method::FindNode;  // Query: what was asked
    int distance = 0;         // log2 of the XOR distance to the target: 160 - shared prefix bits
    int depth = 0;            // 0: from our routing table; d + 1: named by a depth-d node
    Duration at{};            // since the lookup started
    Duration rtt{};           // Reply, Error (an answer)
    std::size_t nodes = 0;    // Reply: the nodes it named
    std::size_t fresh = 0;    // Reply: of them, new to the lookup
    bool value = false;       // Reply: it holds what was looked for (an item, peers)
    bool token = false;       // Reply: with a write token
    std::string error{};      // Error, Timeout, Unsendable: why
    std::size_t queries = 0;  // Done
    int hops = 0;             // Done
};
std::string_view to_string(TraceEvent::Kind k) noexcept;
using Trace = std::function<void(const TraceEvent&)>;

struct PutOptions {
    std::optional<std::int64_t> seq;  // default: one more than the highest seen
    std::optional<Duration> ttl;      // default: the storage's default TTL
    Trace trace{};                    // each step of its lookup (put --trace)
};

struct BootstrapPeer {
    Endpoint endpoint;
    std::optional<NodeId> id;  // when given, the reply must carry it
};

template <class R>
using Callback = std::function<void(const R&)>;

// Names one operation the node runs (Node::cancel). Never 0; never reused within a node.
using OperationId = std::uint64_t;

}  // namespace kad
