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
//
// Node puts the parts together (docs/ARCHITECTURE.md has the map): kad::Rpc sends and matches,
// kad::QueryHandler answers, the operations in src/ops/ run lookups, gets, puts, bootstraps and
// hand-offs, and kad::Maintenance decides what to refresh and republish. Node itself is the
// front door (rate limit, decoding, dispatch) and the clock. The constructor throws
// std::invalid_argument for a NodeConfig that config_error() finds fault with.

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
#include "kad/item_refresh.hpp"
#include "kad/krpc.hpp"
#include "kad/listeners.hpp"
#include "kad/log.hpp"
#include "kad/lookup.hpp"
#include "kad/maintenance.hpp"
#include "kad/node_config.hpp"
#include "kad/node_id.hpp"
#include "kad/peer_store.hpp"
#include "kad/query_handler.hpp"
#include "kad/random.hpp"
#include "kad/rate_limit.hpp"
#include "kad/results.hpp"
#include "kad/routing_table.hpp"
#include "kad/rpc.hpp"
#include "kad/seen_seq.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"
#include "kad/transactions.hpp"
#include "kad/transport.hpp"
#include "kad/watches.hpp"
#include "kad/write_tokens.hpp"

namespace kad {

namespace ops {
class Operations;
struct Context;
}  // namespace ops

class Node {
public:
    Node(NodeConfig config, const NodeId& id, Transport& transport, RandomSource& rng,
         TimePoint now);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // ---- driving ----
    // `at_probe_port`: it came to the second port (Transport::send_probe), where only answers
    // to our probes are taken; a query there is dropped and counted (probe_port_queries).
    void handle_datagram(TimePoint now, const Endpoint& from, std::string_view datagram,
                         bool at_probe_port = false);
    void handle_timeout(TimePoint now);
    TimePoint next_timeout() const;

    // ---- single RPCs to one node (the REPL's p, fn, fv, s) ----
    OperationId ping(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                     Callback<PingResult> cb);
    OperationId find_node(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                          const NodeId& target, Callback<FindNodeResult> cb);
    OperationId find_value(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                           const std::string& key, Callback<FindValueResult> cb);
    // Asks the node for a token (find_value), then stores. Without a seq: one more than the seq
    // the node holds, or 0.
    OperationId store(TimePoint now, const Endpoint& to, std::optional<NodeId> id, std::string key,
                      std::string value, const PutOptions& options, Callback<StoreRpcResult> cb);
    // BEP 5 to one node (the REPL's gp and ap). announce_peer asks for a token (get_peers)
    // first; port 0 announces the port our datagrams come from (implied_port).
    OperationId get_peers(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                          const NodeId& info_hash, Callback<GetPeersResult> cb);
    OperationId announce_peer(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                              const NodeId& info_hash, std::uint16_t port,
                              Callback<AnnouncePeerResult> cb);

    // BEP 51 to one node (the REPL's samples).
    OperationId sample_infohashes(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                                  const NodeId& target, Callback<SampleInfohashesResult> cb);

    // ---- iterative operations ----
    // `trace` (optional) sees each query of the lookup and its fate as it happens.
    OperationId lookup(TimePoint now, const NodeId& target, Callback<LookupResult> cb,
                       Trace trace = {});
    OperationId get(TimePoint now, std::string key, Callback<GetResult> cb, Trace trace = {});
    OperationId put(TimePoint now, std::string key, std::string value, PutOptions options,
                    Callback<PutResult> cb);
    // Pings the peers, looks up our own ID, then refreshes the farther buckets.
    OperationId bootstrap(TimePoint now, std::vector<BootstrapPeer> peers,
                          Callback<BootstrapResult> cb);
    // BEP 5, iterative: the peers of a swarm; announcing ourselves in it (port 0: implied_port).
    OperationId find_peers(TimePoint now, const NodeId& info_hash, Callback<FindPeersResult> cb);
    OperationId announce(TimePoint now, const NodeId& info_hash, std::uint16_t port,
                         Callback<AnnounceResult> cb);

    // BEP 44, iterative. get_item: the item at `target`, checked; a mutable item's salt is needed
    // to check its signature. put_item: an immutable item, or a mutable one already signed.
    // put_mutable: `value` signed with `key` at one more than the newest seq found (or that seq
    // again if its value is `value`). Each put also keeps the item in our own item store.
    OperationId get_item(TimePoint now, const NodeId& target, std::string salt,
                         Callback<ItemGetResult> cb);
    OperationId put_item(TimePoint now, bep44::Item item, std::optional<std::int64_t> cas,
                         Callback<ItemPutResult> cb);
    OperationId put_mutable(TimePoint now, const Ed25519KeyPair& key, std::string salt,
                            std::string value, Callback<ItemPutResult> cb);

    // Before a planned stop: offers every item to its k nearest nodes other than us, giving it
    // to those that lack this version. The caller bounds it in time (cancel_all()).
    OperationId hand_off_all(TimePoint now, Callback<HandoffResult> cb);

    // Puts back an item saved before a restart (kad/state.hpp), keeping its expiry and flags.
    // Checked like a store from the network: the sizes, a seq not negative (SeqInvalid), an
    // expiry no later than the longest life from now, a publication not in the future.
    StoreResult restore(StoredItem item);
    // The same for a BEP 44 item (its target computed here). Nothing if a mutable item's
    // signature does not verify, or an immutable item's value is not one bencoded value: a
    // damaged or forged state file. Ours (original) are refreshed.
    std::optional<StoreResult> restore_item(StoredItem item);
    // The BEP 44 items this node put and keeps alive (ItemRefresh).
    const ItemRefresh& item_refresh() const noexcept { return item_refresh_; }

    // A peer said it is leaving (LAN discovery): forget it rather than wait for it to fail.
    void forget(const NodeId& id, const Endpoint& ep) { table_.remove(id, ep); }

    // Each operation above returns its ID. cancel() ends it with "cancelled" (its callback runs
    // inside) if it is still running: its queries in flight are left to time out and their
    // answers dropped, and it sends no more (a store is not sent once its token comes). A put
    // cancelled after its local copy was made keeps that copy. False if it has ended.
    bool cancel(OperationId id);
    // Fails every operation in flight with "cancelled" (for shutdown). Callbacks run inside.
    void cancel_all();

    // Reports each new version of `key` as it appears (kad/watches.hpp): the one found now, then
    // every newer one, as the nearest holders tell us of it (listen, notify), by a round every
    // watch_interval, and at once when stored here. Until unwatch(). Nothing if max_watches keys
    // are watched.
    std::optional<WatchId> watch(TimePoint now, std::string key, Callback<WatchEvent> on_event);
    bool unwatch(WatchId id);
    const Watches& watches() const noexcept { return watches_; }
    // The watchers listening here for new versions of values we hold.
    const Listeners& listeners() const noexcept { return listeners_; }
    // The highest seq this node has seen of each key (gets ask for no older, puts go past it).
    const SeenSeq& seen_seqs() const noexcept { return seen_; }

    // ---- introspection ----
    const NodeId& id() const noexcept { return id_; }
    const NodeConfig& config() const noexcept { return config_; }
    const RoutingTable& routing_table() const noexcept { return table_; }
    const Storage& storage() const noexcept { return storage_; }
    // BEP 44: the immutable and mutable items put on this node, by target.
    const Storage& item_store() const noexcept { return items_; }
    // BEP 5: the peers announced to this node, by info-hash.
    const PeerStore& peer_store() const noexcept { return peers_; }
    const NodeStats& stats() const noexcept { return stats_; }
    const RateLimiter& rate_limiter() const noexcept { return limiter_; }
    std::size_t lookups_running() const noexcept;
    // What the node holds, each against the bound its configuration puts on it: whatever the
    // traffic, faults or attacks, no count exceeds its bound (the fault schedules and the
    // attack simulations check it), so the node's memory is bounded.
    struct Held {
        std::string_view what;
        std::size_t count = 0;
        std::size_t bound = 0;
    };
    std::vector<Held> footprint() const;
    std::size_t transactions_open() const noexcept { return rpc_.open(); }
    // Our address as responders agree to see it (BEP 42 "ip"), once enough of them do.
    const std::optional<Endpoint>& external_address() const noexcept {
        return rpc_.external_address();
    }
    const bep42::AddressVoter& address_voter() const noexcept { return rpc_.address_voter(); }
    // The client version ("v") each contact sent in its latest answer.
    const ClientVersions& client_versions() const noexcept { return rpc_.client_versions(); }
    // Nodes known not to speak kadnode's find_value and store (docs/PROTOCOL.md).
    const ForeignNodes& foreign_nodes() const noexcept { return rpc_.foreign(); }
    bool joined() const noexcept { return joined_; }

    // Where the node reports what it does (trace: every datagram; debug: drops, timeouts,
    // lookups; info: stores and joins). Off by default.
    void set_logger(Logger logger) { log_ = std::move(logger); }
    // Called for every well-formed query and every matched reply: proof that the peer is alive
    // at that endpoint (LAN discovery keeps its view fresh with it).
    using ContactObserver = kad::ContactObserver;
    void set_contact_observer(ContactObserver o) { rpc_.set_contact_observer(std::move(o)); }
    // Called when the node takes a new ID (NodeConfig::derive_id), with the old one: to save it,
    // and to tell the user.
    using IdObserver = std::function<void(const NodeId& old_id, const NodeId& new_id)>;
    void set_id_observer(IdObserver o) { id_observer_ = std::move(o); }
    // The latest time the node has been given.
    TimePoint now() const noexcept { return now_; }

    // Which of the node's two stores.
    enum class Store : std::uint8_t { Values, Items };  // kadnode's store, BEP 44's
    // Stops keeping alive a value (by its target, NodeId::from_key) or a BEP 44 item that this
    // node published: no more refreshes, so it expires where it is held, at the expiry it has
    // (our own copy too, which is republished like any other holder's until then). The
    // expiry, or nothing if we do not hold it as its publisher.
    std::optional<TimePoint> unpublish(Store store, const NodeId& target);

    // Called after every change to an item in either store (nullptr: the item left), before
    // the store or put that made it is answered: the state directory's journal keeps it there
    // (kad/journal.hpp).
    using StoreObserver =
        std::function<void(Store store, const NodeId& target, const StoredItem* item)>;
    void set_store_observer(const StoreObserver& o);
    // Called when a node enters the routing table (the journal keeps it too).
    using NewContactObserver = std::function<void(const NodeId& id, const Endpoint& at)>;
    void set_new_contact_observer(NewContactObserver o) { new_contact_ = std::move(o); }
    // An item this node published is no longer ours to keep alive: another writer stored a
    // newer version here (`by` says who), or a put of ours found one in the network (BEP 44).
    struct Superseded {
        Store store = Store::Values;
        NodeId target;
        std::string key;
        std::optional<std::int64_t> seq;  // the newer version's, when known
        std::optional<Endpoint> by;
    };
    using SupersededObserver = std::function<void(const Superseded&)>;
    void set_superseded_observer(SupersededObserver o) { superseded_ = std::move(o); }
    // While `reason` is not empty, stores and puts from other nodes are refused (202, with the
    // reason): the node cannot keep what it would acknowledge (its journal cannot be written).
    void refuse_stores(std::string reason);

    // The write token this node hands to an address (exposed for tests and tools).
    std::string token_for(const Endpoint& ep) const { return tokens_.issue(ep); }

private:
    class Actions;

    void advance(TimePoint now);
    // Wraps a put's callback: an item this node put is refreshed from then on.
    Callback<ItemPutResult> published(Callback<ItemPutResult> cb);
    // Charges a datagram to its source's rate limit: false means drop it.
    bool admit(const Endpoint& from);
    void on_malformed(const Endpoint& from, const krpc::DecodeFailure& f);
    // BEP 42: responders agree on a new external address; with derive_id, take an ID to match.
    void on_address_agreed();
    // A version of a value was stored here: tell the watchers listening for it.
    void notify_listeners(const StoredItem& item);

    NodeConfig config_;
    NodeId id_;
    RandomSource& rng_;
    TimePoint now_;
    Logger log_;
    IdObserver id_observer_;
    SupersededObserver superseded_;
    StoreObserver store_observer_;
    NewContactObserver new_contact_;
    NodeStats stats_;
    RoutingTable table_;
    Storage storage_;
    Storage items_;  // BEP 44
    PeerStore peers_;
    Listeners listeners_;
    std::size_t notifies_in_flight_ = 0;  // bounded by config_.listeners.max_in_flight
    SeenSeq seen_;
    RateLimiter limiter_;
    WriteTokens tokens_;
    Rpc rpc_;
    QueryHandler queries_;
    std::unique_ptr<ops::Operations> ops_;
    std::unique_ptr<Actions> actions_;
    Maintenance maintenance_;
    class ItemActions;
    std::unique_ptr<ItemActions> item_actions_;
    ItemRefresh item_refresh_;
    Watches watches_;
    std::unique_ptr<ops::Context> ctx_;
    bool joined_ = false;
};

}  // namespace kad
