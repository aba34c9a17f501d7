#include "ops/watch.hpp"

#include <algorithm>

#include "ops/find.hpp"

namespace kad::ops {

Duration listen_ttl(const NodeConfig& config) {
    return std::max<Duration>(3 * config.watch_interval, std::chrono::seconds(1));
}

WatchRoundOp::WatchRoundOp(Context& ctx, std::string key, WatchListen listen,
                           Callback<std::vector<krpc::NodeInfo>> asking,
                           Callback<WatchRoundResult> done)
    : ctx_(ctx),
      key_(std::move(key)),
      listen_(std::move(listen)),
      asking_(std::move(asking)),
      done_(std::move(done)) {}

void WatchRoundOp::start() {
    ++ctx_.stats.watch_rounds;
    if (auto why = ctx_.storage.size_error(key_, {}); !why.empty()) {
        result_.fail(Failure::BadArgument, why);
        return finish();
    }
    target_ = NodeId::from_key(key_);
    traversal_.emplace(ctx_, TraversalOptions{.target = target_,
                                              .method = krpc::Method::FindValue,
                                              .local = ctx_.storage.find(target_)});
    if (!traversal_->start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    if (traversal_->done()) on_lookup_done();
}

void WatchRoundOp::on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot == 0) {
        const bool was_done = traversal_->done();
        traversal_->on_rpc(peer, e);
        if (!was_done && traversal_->done()) on_lookup_done();
        return;
    }
    listens_.on_rpc(slot, e);
    check_listens();
}

void WatchRoundOp::on_lookup_done() {
    const Lookup& l = traversal_->lookup();
    result_.queries = l.queries();
    if (const auto& found = l.value()) {
        result_.item = found->item;
        result_.from = {found->from_id, found->from};
        result_.here = found->from_id == ctx_.self && found->hops == 0;
        note_seen(ctx_, target_, found->item.seq);
    }
    // The nearest that gave a token: those a put stores on first. A read-only node (BEP 43)
    // answers no queries, so it would take no notify: it asks none.
    std::vector<const LookupCandidate*> holders;
    for (const LookupCandidate* c : l.results()) {
        if (holders.size() == ctx_.config.listen_nodes || ctx_.config.read_only) break;
        if (c->token) holders.push_back(c);
    }
    for (const LookupCandidate* c : holders) result_.asked.push_back({c->id, c->endpoint});
    if (asking_ && !holders.empty()) asking_(result_.asked);
    // The newest version this watch will have reported once the round ends.
    std::optional<std::int64_t> known = listen_.known;
    if (result_.item && (!known || result_.item->seq > *known)) known = result_.item->seq;
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(listen_ttl(ctx_.config));
    listens_.start(ctx_, *this, 1, holders, [&](std::string token) {
        krpc::ListenArgs a;
        a.target = target_;
        a.token = std::move(token);
        a.tag = listen_.tag;
        a.seq = known;
        a.ttl = ttl.count();
        return ctx_.rpc.make_query(std::move(a));
    });
    ctx_.stats.listens_sent += holders.size();
    check_listens();
}

void WatchRoundOp::check_listens() {
    if (!listens_.done()) return;
    result_.listening = listens_.accepting;
    ctx_.stats.listens_held += listens_.stored;
    // A round that found nothing still did its work: the key has no version yet, and the
    // holders will tell us of the first. One that found a version (our own copy, when nobody
    // answered) reports it.
    if (!result_.item && result_.queries > 0 && traversal_->lookup().results().empty()) {
        result_.fail(Failure::Timeout, "no node answered the lookup");
    } else {
        result_.ok = true;
    }
    finish();
}

void WatchRoundOp::cancel() {
    if (traversal_) traversal_->stop();
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

void WatchRoundOp::complete() {
    done_(result_);
}

}  // namespace kad::ops
