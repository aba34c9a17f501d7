#pragma once
// The answering side of a node (libtorrent's node::incoming for queries): ping, find_node,
// find_value and store are answered from the routing table and the storage, listen by taking
// the watcher among the listeners and notify by handing the version to the node's watches,
// get_peers and
// announce_peer (BEP 5) from the peer store, get and put (BEP 44) from the item store; stores,
// announces and puts are checked against their write tokens, puts against their hashes and
// signatures, and every answer and refusal is counted. An unknown method is answered 204. After
// answering, the asker may be pinged to verify it for the routing table.
//
// A query reaches handle() well-formed (krpc::decode checked it) and admitted by the rate limit;
// replies are at most about the size of the query, except find answers (bounded by k contacts, and
// beside an item by config.max_reply bytes).

#include <functional>

#include "kad/krpc.hpp"
#include "kad/listeners.hpp"
#include "kad/log.hpp"
#include "kad/node_config.hpp"
#include "kad/peer_store.hpp"
#include "kad/routing_table.hpp"
#include "kad/rpc.hpp"
#include "kad/storage.hpp"
#include "kad/write_tokens.hpp"

namespace kad {

// The largest answer that could carry this item: a find_value answer with kadnode's value, or
// a BEP 44 get answer with a mutable item's key and signature, each with the longest envelope
// (transaction ID, an IPv6 "ip", the token, the largest seq) and no nodes. An item whose answer
// would exceed config.max_reply is refused when stored (205): no reply ever exceeds the budget.
std::size_t value_reply_size(const NodeConfig& config, std::string_view key,
                             std::string_view value);
std::size_t item_reply_size(const NodeConfig& config, std::string_view value);
// "value too large to answer within 1452 bytes (its answer: 1530)"; empty if it fits.
std::string reply_budget_error(const NodeConfig& config, std::size_t reply_size);

class QueryHandler {
public:
    // What answers come from: kadnode's items, BEP 44's items, BEP 5's peers, and the watchers
    // listening to kadnode's items.
    struct Stores {
        Storage& storage;
        Storage& items;
        PeerStore& peers;
        Listeners& listeners;
    };
    // The references must outlive the handler; `now` is the node's clock.
    QueryHandler(const NodeConfig& config, const NodeId& self, const TimePoint& now, Rpc& rpc,
                 RoutingTable& table, Stores stores, const WriteTokens& tokens, RandomSource& rng,
                 NodeStats& stats, const Logger& log);

    void handle(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);

    // Called after a peer's store was accepted, with the item's target.
    void set_store_hook(std::function<void(const NodeId&)> hook) { stored_ = std::move(hook); }
    // A holder told us of a newer version (notify), already checked (its key hashes to its
    // target, its sizes): false if no watch of ours listens to that holder for that key with
    // that tag, and the holder is to stop telling us.
    using NotifyHook = std::function<bool(const krpc::NodeInfo& holder, const std::string& tag,
                                          const krpc::Item& item)>;
    void set_notify_hook(NotifyHook hook) { notified_ = std::move(hook); }
    // A watcher's listen for a target was taken (after it was answered).
    void set_listen_hook(std::function<void(const NodeId&)> hook) { listened_ = std::move(hook); }
    // While not empty, stores and puts are refused with 202 and this reason (Node::refuse_stores).
    void refuse_stores(std::string reason) { store_refusal_ = std::move(reason); }
    const std::string& store_refusal() const noexcept { return store_refusal_; }

private:
    void answer(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void answer_find(const Endpoint& from, const krpc::Message& m, const krpc::Query& q,
                     const NodeId& target, const std::optional<krpc::Want>& want, bool with_value);
    void answer_store(const Endpoint& from, const krpc::Message& m, const krpc::StoreArgs& a);
    void answer_get_peers(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void answer_announce(const Endpoint& from, const krpc::Message& m,
                         const krpc::AnnouncePeerArgs& a);
    void answer_get(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void answer_put(const Endpoint& from, const krpc::Message& m, const krpc::PutArgs& a);
    void answer_samples(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void answer_listen(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    void answer_notify(const Endpoint& from, const krpc::Message& m, const krpc::Query& q);
    // Why a BEP 44 put cannot be accepted before it is tried: a KRPC error.
    std::optional<krpc::Error> check_put(const Endpoint& from, const krpc::PutArgs& a,
                                         const NodeId& target) const;
    // The nearest contacts for an answer: never the asker; the families it wants (BEP 32), or
    // its own. `lists` says which families were asked for.
    std::vector<krpc::NodeInfo> nearest(const Endpoint& from, const krpc::Query& q,
                                        const NodeId& target, const std::optional<krpc::Want>& want,
                                        krpc::Want& lists);
    // Why a store cannot be accepted before it is tried (token, target, sizes): a KRPC error.
    std::optional<krpc::Error> check_store(const Endpoint& from, const krpc::StoreArgs& a) const;
    // The KRPC error for a store `store` refused.
    krpc::Error refusal(const Storage& store, StoreResult result, const Endpoint& from,
                        const NodeId& target);
    void refuse(const Endpoint& from, const krpc::Message& m, krpc::Error e);

    const NodeConfig& config_;
    const NodeId& self_;
    const TimePoint& now_;
    Rpc& rpc_;
    RoutingTable& table_;
    Storage& storage_;
    Storage& items_;
    PeerStore& peers_;
    Listeners& listeners_;
    const WriteTokens& tokens_;
    RandomSource& rng_;
    NodeStats& stats_;
    const Logger& log_;
    std::vector<const Contact*> closest_;  // reused
    std::function<void(const NodeId&)> stored_;
    NotifyHook notified_;
    std::function<void(const NodeId&)> listened_;
    std::string store_refusal_;
    // BEP 51: the sample given out until sample_until_ (then drawn again).
    std::vector<NodeId> sample_;
    TimePoint sample_until_{};
};

}  // namespace kad
