#include "ops/watch.hpp"

#include <algorithm>

#include "ops/find.hpp"

namespace kad::ops {

Duration listen_ttl(const NodeConfig& config) {
    return std::max<Duration>(3 * config.watch_interval, std::chrono::seconds(1));
}

WatchRoundOp::WatchRoundOp(Context& ctx, std::string key, Callback<WatchRoundResult> done)
    : ctx_(ctx), key_(std::move(key)), done_(std::move(done)) {}

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
    // The nearest that gave a token: those a put stores on first.
    std::vector<const LookupCandidate*> holders;
    for (const LookupCandidate* c : l.results()) {
        if (holders.size() == ctx_.config.listen_nodes) break;
        if (c->token) holders.push_back(c);
    }
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(listen_ttl(ctx_.config));
    listens_.start(ctx_, *this, 1, holders, [&](std::string token) {
        krpc::ListenArgs a;
        a.target = target_;
        a.token = std::move(token);
        a.ttl = ttl.count();
        return ctx_.rpc.make_query(std::move(a));
    });
    ctx_.stats.listens_sent += holders.size();
    check_listens();
}

void WatchRoundOp::check_listens() {
    if (!listens_.done()) return;
    result_.listening = listens_.accepting;
    result_.listens_refused = listens_.refused;
    result_.listens_failed = listens_.failed;
    ctx_.stats.listens_held += listens_.stored;
    // A round that found nothing still did its work: the key has no version yet, and the
    // holders will tell us of the first.
    if (result_.queries > 0 && traversal_->lookup().results().empty()) {
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
