#pragma once
// A Kademlia node as a sans-I/O state machine.
//
// Bytes and the current time go in (handle_datagram, handle_timeout); datagrams leave through a
// Transport; operations complete through callbacks. next_timeout() says when the node next wants
// handle_timeout() called; calling it earlier or more often is harmless. The node never reads a
// clock, opens a socket or uses global randomness, so a simulator can drive thousands of nodes in
// virtual time, deterministically, and Boost.Asio drives one in production (kad/runtime.hpp).
//
// Callbacks run inside handle_datagram / handle_timeout, or inside the call that starts the
// operation when it fails at once (bad argument, limits). A callback may start new operations.
// Single-threaded: one thread owns a Node.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kad/bencode.hpp"
#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/log.hpp"
#include "kad/lookup.hpp"
#include "kad/node_id.hpp"
#include "kad/random.hpp"
#include "kad/rate_limit.hpp"
#include "kad/routing_table.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"
#include "kad/transactions.hpp"

namespace kad {

// Where a node's datagrams go. The runtime sends on a UDP socket; the simulator queues them.
// The datagram is valid only during the call; send() must copy it and must not call back into
// the node.
class Transport {
public:
    virtual ~Transport() = default;
    virtual void send(const Endpoint& to, std::string_view datagram) = 0;
    // Whether send() can reach this address at all (an IPv4-only socket cannot reach IPv6).
    virtual bool can_reach(const Endpoint&) const { return true; }
};

struct NodeConfig {
    std::size_t k = 20;     // bucket size, replication factor, lookup width
    std::size_t alpha = 3;  // queries in flight per lookup
    Duration rpc_timeout = std::chrono::seconds(2);  // hard timeout: the query failed
    // Soft timeout: smoothed RTT + 4 x variation (RFC 6298), of the contact or, for a node we
    // have no samples for, of all replies; clamped to [min, max].
    Duration soft_timeout_min = std::chrono::milliseconds(20);
    Duration soft_timeout_max = std::chrono::seconds(1);
    Duration soft_timeout_initial = std::chrono::milliseconds(500);  // before any RTT sample
    int lookup_attempts = 4;  // queries to one candidate among the k nearest (see lookup.hpp)
    Duration bucket_refresh = std::chrono::hours(1);
    // A holder republishes an item nobody has stored to it for this long (Kademlia: an hour).
    Duration republish_interval = std::chrono::hours(1);
    // Items are republished when due, but the node looks for due items at most this often.
    Duration republish_check = std::chrono::seconds(1);
    double publisher_refresh = 0.75;   // the publisher re-puts after this share of the TTL
    std::size_t max_republishes = 16;  // republish operations at once
    bool handoff = true;               // give items to a new contact that is among their k nearest
    std::size_t max_handoffs = 64;     // hand-off store requests at once
    Duration token_rotation = std::chrono::minutes(5);
    std::size_t max_transactions = 4096;
    std::size_t max_lookups = 512;
    std::size_t max_maintenance_pings = 64;  // pings the routing table asked for, in flight
    std::size_t lookup_candidates = 200;     // candidates one lookup keeps
    std::size_t seen_seq_entries = 4096;     // highest seq remembered per key, for get
    std::size_t max_error_message = 64;      // bytes of reason in a 203 reply
    // A find_value reply with an item keeps within this many bytes: a 1,500-byte MTU less the
    // IPv6 and UDP headers.
    std::size_t max_reply = 1452;
    RoutingConfig routing{};  // routing.k is set from k
    StorageConfig storage{};
    RateLimitConfig rate_limit{};
    krpc::Limits limits{};
    std::string version = std::string("KN\x00\x01", 4);  // "v": client KN, version 0.1
};

struct NodeStats {
    std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0;
    std::array<std::uint64_t, 5> queries_in{};   // indexed by krpc::Method
    std::array<std::uint64_t, 5> queries_out{};  // indexed by krpc::Method
    std::uint64_t responses_in = 0, errors_in = 0, responses_out = 0, errors_out = 0;
    std::uint64_t malformed_dropped = 0;  // undecodable datagrams, never answered
    std::uint64_t bad_queries = 0;        // answered 203
    std::uint64_t unknown_methods = 0;    // answered 204
    std::uint64_t unusable_source = 0;    // from port 0, multicast, broadcast, unspecified
    std::uint64_t unmatched_replies = 0;  // unknown transaction ID
    std::uint64_t wrong_endpoint = 0;     // right transaction ID, wrong sender
    std::uint64_t wrong_id = 0;           // right sender, another node ID
    std::uint64_t bad_responses = 0;      // a response missing what its method needs
    std::uint64_t soft_timeouts = 0, hard_timeouts = 0;
    std::uint64_t stores_accepted = 0, stores_refused = 0;
    std::uint64_t stores_full = 0;        // refused: the store is full (items or bytes)
    std::uint64_t stores_over_quota = 0;  // refused: the source holds its share
    std::uint64_t transactions_full = 0;  // queries not sent: too many outstanding
    std::uint64_t lookups_refused = 0;    // too many lookups running
    std::uint64_t maintenance_pings = 0, maintenance_pings_skipped = 0;
    std::uint64_t lookups_started = 0, lookups_done = 0;
    std::uint64_t lookup_candidates_dropped = 0;  // past lookup_candidates
    std::uint64_t seen_seq_evicted = 0;           // past seen_seq_entries
    std::uint64_t republishes_deferred = 0;       // due, but max_republishes were running
    std::array<std::uint64_t, 16> lookup_hops{};  // completed lookups by hops (15 = 15 or more)
    std::uint64_t values_cached = 0;
    std::uint64_t bad_items = 0;    // find_value answers with an item for another key, or too big
    std::uint64_t republished = 0;  // items a holder republished
    std::uint64_t refreshed_originals = 0;  // items the publisher (we) refreshed
    std::uint64_t republish_stores = 0;     // stores those republishes made
    std::uint64_t republish_retired = 0;    // items we stopped republishing: no longer near
    std::uint64_t handoffs = 0, handoff_stores = 0, handoffs_skipped = 0;
    std::uint64_t bucket_refreshes = 0;
};

// Every result says whether it worked and, if not, why, in words for a person.
struct Outcome {
    bool ok = false;
    std::string error;
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

struct LookupResult : Outcome {
    NodeId target;
    std::vector<krpc::NodeInfo> nodes;  // nearest first
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
};

struct GetResult : Outcome {
    std::string key;
    std::optional<krpc::Item> item;
    krpc::NodeInfo from;  // who returned it (our own ID if it came from our store)
    int hops = 0;
    std::size_t queries = 0;
    Duration elapsed{};
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

struct PutOptions {
    std::optional<std::int64_t> seq;  // default: one more than the highest seen
    std::optional<Duration> ttl;      // default: the storage's default TTL
};

struct BootstrapPeer {
    Endpoint endpoint;
    std::optional<NodeId> id;  // when given, the reply must carry it
};

template <class R>
using Callback = std::function<void(const R&)>;

class Node {
public:
    Node(NodeConfig config, const NodeId& id, Transport& transport, RandomSource& rng,
         TimePoint now);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // ---- driving ----
    void handle_datagram(TimePoint now, const Endpoint& from, std::string_view datagram);
    void handle_timeout(TimePoint now);
    TimePoint next_timeout() const;

    // ---- single RPCs to one node (the REPL's p, fn, fv, s) ----
    void ping(TimePoint now, const Endpoint& to, std::optional<NodeId> id, Callback<PingResult> cb);
    void find_node(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                   const NodeId& target, Callback<FindNodeResult> cb);
    void find_value(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                    const std::string& key, Callback<FindValueResult> cb);
    // Asks the node for a token (find_value), then stores. Without a seq: one more than the seq
    // the node holds, or 0.
    void store(TimePoint now, const Endpoint& to, std::optional<NodeId> id, std::string key,
               std::string value, PutOptions options, Callback<StoreRpcResult> cb);

    // ---- iterative operations ----
    void lookup(TimePoint now, const NodeId& target, Callback<LookupResult> cb);
    void get(TimePoint now, std::string key, Callback<GetResult> cb);
    void put(TimePoint now, std::string key, std::string value, PutOptions options,
             Callback<PutResult> cb);
    // Pings the peers, looks up our own ID, then refreshes the farther buckets.
    void bootstrap(TimePoint now, std::vector<BootstrapPeer> peers, Callback<BootstrapResult> cb);

    // Before a planned stop: offers every item to its k nearest nodes other than us, giving it
    // to those that lack this version. The caller bounds it in time (cancel_all()).
    void hand_off_all(TimePoint now, Callback<HandoffResult> cb);

    // Puts back an item saved before a restart (kad/state.hpp), keeping its expiry and flags.
    StoreResult restore(StoredItem item);

    // A peer said it is leaving (LAN discovery): forget it rather than wait for it to fail.
    void forget(const NodeId& id, const Endpoint& ep) { table_.remove(id, ep); }

    // Fails every operation in flight with "cancelled" (for shutdown). Callbacks run inside.
    void cancel_all();

    // ---- introspection ----
    const NodeId& id() const noexcept { return id_; }
    const NodeConfig& config() const noexcept { return config_; }
    const RoutingTable& routing_table() const noexcept { return table_; }
    const Storage& storage() const noexcept { return storage_; }
    const NodeStats& stats() const noexcept { return stats_; }
    const RateLimiter& rate_limiter() const noexcept { return limiter_; }
    std::size_t lookups_running() const noexcept { return lookups_.size(); }
    std::size_t transactions_open() const noexcept { return txns_.size(); }
    // Our address as the last responder saw it (BEP 42 "ip"), if any said.
    const std::optional<Endpoint>& external_address() const noexcept { return external_; }
    bool joined() const noexcept { return joined_; }

    // Where the node reports what it does (trace: every datagram; debug: drops, timeouts,
    // lookups; info: stores and joins). Off by default.
    void set_logger(Logger logger) { log_ = std::move(logger); }
    // Called for every well-formed query and every matched reply: proof that the peer is alive
    // at that endpoint (LAN discovery keeps its view fresh with it).
    using ContactObserver = std::function<void(TimePoint, const NodeId&, const Endpoint&)>;
    void set_contact_observer(ContactObserver o) { contact_observer_ = std::move(o); }
    // The latest time the node has been given.
    TimePoint now() const noexcept { return now_; }

    // The write token this node hands to an address (exposed for tests and tools).
    std::string token_for(const Endpoint& ep) const;

private:
    struct LookupOp;
    struct BootstrapState;
    struct RttEstimate {
        std::optional<Duration> srtt;
        Duration rttvar{};
    };

    void advance(TimePoint now);
    void maintenance();
    TimePoint next_maintenance() const;

    // Outgoing.
    bool send_query(const Endpoint& to, const std::optional<NodeId>& id, krpc::Query query,
                    RpcHandler handler);
    void send_message(const Endpoint& to, const krpc::Message& m);
    void send_encoded(const Endpoint& to);  // sends out_, encoded already
    void send_error(const Endpoint& to, const std::string& t, int code, std::string message);
    Duration soft_timeout_for(const std::optional<NodeId>& id) const;
    // Why a query to `to` cannot be sent, if it cannot.
    std::optional<std::string> unreachable(const Endpoint& to) const;
    void maybe_ping(const std::optional<PingRequest>& req);

    // Incoming.
    // Charges a datagram to its source's rate limit: false means drop it.
    bool admit(const Endpoint& from);
    void on_query(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void answer(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void on_reply(const Endpoint& from, const krpc::Message& m);
    void answer_find(const Endpoint& from, const krpc::Message& m, const krpc::Query& q,
                     const NodeId& target, const std::optional<krpc::Want>& want, bool value);
    void answer_store(const Endpoint& from, const krpc::Message& m, const krpc::Query& q,
                      const krpc::StoreArgs& a);
    bool token_valid(const std::string& token, const Endpoint& from) const;
    void rotate_secret();

    // Republishing and hand-off.
    struct StoreJob {
        std::string key;
        std::string value;
        std::int64_t seq = 0;
        std::optional<Duration> ttl;
    };
    // Stores on each node that gave a token; `done(cancelled)` runs when all have ended.
    void store_on(const std::vector<const LookupCandidate*>& nodes, const StoreJob& job,
                  std::shared_ptr<PutResult> result, std::function<void(bool)> done);
    void republish_due();
    TimePoint republish_time(const StoredItem& item) const;
    void republish(const NodeId& target);
    void on_new_contact(const NodeId& id, const Endpoint& ep);
    Duration jittered_republish();

    // Lookups.
    // Returns 0 (and starts nothing) when too many lookups are running. `k`: the nodes it
    // converges on (0: config k).
    std::uint64_t start_lookup(const NodeId& target, bool find_value, bool stop_at_value,
                               std::int64_t min_seq, const StoredItem* local,
                               std::function<void(LookupOp&)> on_done, std::size_t k = 0);
    void pump(std::uint64_t lookup_id);
    void on_lookup_event(std::uint64_t lookup_id, const NodeId& cand, const RpcEvent& e);
    void note_seen_seq(const NodeId& target, std::int64_t seq);
    std::optional<std::int64_t> seen_seq(const NodeId& target) const;
    // Why an item in a find_value answer for `target` cannot be believed; empty if it can.
    std::string item_problem(const krpc::Item& item, const NodeId& target) const;

    NodeConfig config_;
    NodeId id_;
    Transport& transport_;
    RandomSource& rng_;
    TimePoint now_;

    RoutingTable table_;
    Storage storage_;
    TransactionTable txns_;
    RateLimiter limiter_;
    bencode::Document scratch_;
    std::string out_;                      // encode buffer, reused
    std::vector<const Contact*> closest_;  // reused
    NodeStats stats_;
    RttEstimate global_rtt_;

    std::array<std::uint8_t, 32> secret_{};
    std::array<std::uint8_t, 32> previous_secret_{};
    TimePoint rotate_at_{};

    std::unordered_map<std::uint64_t, std::unique_ptr<LookupOp>> lookups_;
    std::uint64_t next_lookup_id_ = 1;
    std::size_t maintenance_pings_ = 0;
    std::unordered_map<NodeId, std::int64_t> seen_seq_;
    std::vector<NodeId> seen_order_;  // FIFO eviction of seen_seq_
    std::size_t seen_next_ = 0;
    std::optional<Endpoint> external_;
    bool joined_ = false;
    std::size_t republishing_ = 0;
    std::size_t handoffs_ = 0;
    TimePoint next_republish_scan_ = TimePoint::max();  // the next item due (maybe early)
    Logger log_;
    ContactObserver contact_observer_;
};

}  // namespace kad
