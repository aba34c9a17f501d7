// kad::Node's operations: where each starts, and how one is cancelled. The node's handling of
// datagrams and time is node.cpp's.

#include "kad/node.hpp"
#include "ops/bootstrap.hpp"
#include "ops/find.hpp"
#include "ops/hand_off.hpp"
#include "ops/items.hpp"
#include "ops/operation.hpp"
#include "ops/peers.hpp"
#include "ops/probes.hpp"
#include "ops/put.hpp"

namespace kad {

namespace {

// A single RPC (ops/probes.hpp) under an ID of the operation table (Operations::guard), so that
// cancel() ends it: send(guarded callback, its ID) starts it.
template <class Result, class Send>
OperationId guarded(ops::Operations& ops, Callback<Result> cb, Send send) {
    OperationId op = 0;
    auto done = ops.guard(std::move(cb), op);
    send(std::move(done), op);
    return op;
}

}  // namespace

OperationId Node::ping(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                       Callback<PingResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb),
                   [&](auto done, OperationId) { ops::ping(*ctx_, to, id, std::move(done)); });
}

OperationId Node::find_node(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                            const NodeId& target, Callback<FindNodeResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb), [&](auto done, OperationId) {
        ops::find_node(*ctx_, to, id, target, std::move(done));
    });
}

OperationId Node::find_value(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                             const std::string& key, Callback<FindValueResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb), [&](auto done, OperationId) {
        ops::find_value(*ctx_, to, id, key, std::move(done));
    });
}

OperationId Node::store(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                        std::string key, std::string value, const PutOptions& options,
                        Callback<StoreRpcResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb), [&](auto done, OperationId op) {
        ops::store(*ctx_, to, id, std::move(key), std::move(value), options, std::move(done), op);
    });
}

OperationId Node::get_peers(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                            const NodeId& info_hash, Callback<GetPeersResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb), [&](auto done, OperationId) {
        ops::get_peers(*ctx_, to, id, info_hash, std::move(done));
    });
}

OperationId Node::announce_peer(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                                const NodeId& info_hash, std::uint16_t port,
                                Callback<AnnouncePeerResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb), [&](auto done, OperationId op) {
        ops::announce_peer(*ctx_, to, id, info_hash, port, std::move(done), op);
    });
}

OperationId Node::sample_infohashes(TimePoint now, const Endpoint& to, std::optional<NodeId> id,
                                    const NodeId& target, Callback<SampleInfohashesResult> cb) {
    advance(now);
    return guarded(*ops_, std::move(cb), [&](auto done, OperationId) {
        ops::sample_infohashes(*ctx_, to, id, target, std::move(done));
    });
}

OperationId Node::find_peers(TimePoint now, const NodeId& info_hash, Callback<FindPeersResult> cb) {
    advance(now);
    return ops_->start<ops::FindPeersOp>(*ctx_, info_hash, std::move(cb));
}

OperationId Node::announce(TimePoint now, const NodeId& info_hash, std::uint16_t port,
                           Callback<AnnounceResult> cb) {
    advance(now);
    return ops_->start<ops::AnnounceOp>(*ctx_, info_hash, port, std::move(cb));
}

OperationId Node::get_item(TimePoint now, const NodeId& target, std::string salt,
                           Callback<ItemGetResult> cb) {
    advance(now);
    return ops_->start<ops::ItemGetOp>(*ctx_, target, std::move(salt), std::move(cb));
}

OperationId Node::put_item(TimePoint now, bep44::Item item, std::optional<std::int64_t> cas,
                           Callback<ItemPutResult> cb) {
    advance(now);
    return ops_->start<ops::ItemPutOp>(*ctx_, ops::ItemPut{std::move(item), std::nullopt, cas},
                                       published(std::move(cb)));
}

OperationId Node::put_mutable(TimePoint now, const Ed25519KeyPair& key, std::string salt,
                              std::string value, Callback<ItemPutResult> cb) {
    advance(now);
    bep44::Item item;
    item.value = std::move(value);
    item.salt = std::move(salt);
    return ops_->start<ops::ItemPutOp>(*ctx_, ops::ItemPut{std::move(item), key, std::nullopt},
                                       published(std::move(cb)));
}

OperationId Node::lookup(TimePoint now, const NodeId& target, Callback<LookupResult> cb,
                         Trace trace) {
    advance(now);
    return ops_->start<ops::LookupOp>(*ctx_, target, std::move(cb), 0, std::move(trace));
}

OperationId Node::get(TimePoint now, std::string key, Callback<GetResult> cb, Trace trace) {
    advance(now);
    return ops_->start<ops::GetOp>(*ctx_, std::move(key), std::move(cb), std::move(trace));
}

OperationId Node::put(TimePoint now, std::string key, std::string value, PutOptions options,
                      Callback<PutResult> cb) {
    advance(now);
    return ops_->start<ops::PutOp>(*ctx_, std::move(key), std::move(value), std::move(options),
                                   std::move(cb));
}

OperationId Node::bootstrap(TimePoint now, std::vector<BootstrapPeer> peers,
                            Callback<BootstrapResult> cb) {
    advance(now);
    return ops_->start<ops::BootstrapOp>(*ctx_, std::move(peers),
                                         [this, cb = std::move(cb)](const BootstrapResult& r) {
                                             if (r.ok) joined_ = true;
                                             cb(r);
                                         });
}

OperationId Node::hand_off_all(TimePoint now, Callback<HandoffResult> cb) {
    advance(now);
    return ops_->start<ops::HandOffOp>(*ctx_, std::move(cb));
}

bool Node::cancel(OperationId id) {
    return ops_->cancel(id);
}

void Node::cancel_all() {
    // Take everything out first: callbacks may start new work, which must find clean tables.
    auto taken = ops_->take_all();
    rpc_.cancel_all();      // a guarded RPC reports "cancelled" here
    ops_->cancel_guards();  // one between its two queries (store, announce_peer)
    // Every operation stops before any reports, so a callback sees none of them running.
    for (auto& op : taken) op->cancel();
    for (auto& op : taken) op->complete();
}

}  // namespace kad
