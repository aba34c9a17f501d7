#include "ops/find.hpp"

#include <algorithm>

#include "ops/store_on_nodes.hpp"

namespace kad::ops {

// ---- LookupOp -------------------------------------------------------------------------------

LookupOp::LookupOp(Context& ctx, const NodeId& target, Callback<LookupResult> done, std::size_t k,
                   Trace trace)
    : ctx_(ctx),
      traversal_(ctx, {.target = target, .k = k, .trace = std::move(trace)}),
      done_(std::move(done)) {
    result_.target = target;
}

void LookupOp::start() {
    if (!traversal_.start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    check();
}

void LookupOp::on_rpc(std::uint32_t, const NodeId& peer, const RpcEvent& e) {
    traversal_.on_rpc(peer, e);
    check();
}

void LookupOp::check() {
    if (!traversal_.done()) return;
    const Lookup& l = traversal_.lookup();
    result_.queries = l.queries();
    result_.elapsed = ctx_.now - traversal_.started();
    for (const auto* c : l.results()) result_.nodes.push_back({c->id, c->endpoint});
    result_.hops = l.hops();
    result_.bound = l.bound();
    result_.ok = !result_.nodes.empty();
    if (!result_.ok) {
        if (l.queries() == 0) {
            result_.fail(Failure::NoContacts, "no contacts to ask");
        } else {
            result_.fail(Failure::Timeout, "no node answered");
        }
    }
    finish();
}

void LookupOp::cancel() {
    traversal_.stop();
    result_.queries = traversal_.lookup().queries();
    result_.elapsed = ctx_.now - traversal_.started();
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

void LookupOp::complete() {
    if (done_) done_(result_);
}

// ---- GetOp ----------------------------------------------------------------------------------

GetOp::GetOp(Context& ctx, std::string key, Callback<GetResult> done, Trace trace)
    : ctx_(ctx), done_(std::move(done)), trace_(std::move(trace)), started_(ctx.now) {
    result_.key = std::move(key);
}

void GetOp::start() {
    if (auto why = ctx_.storage.size_error(result_.key, {}); !why.empty()) {
        result_.fail(Failure::BadArgument, why);
        return finish();
    }
    target_ = NodeId::from_key(result_.key);
    const StoredItem* local = ctx_.storage.find(target_);
    const std::int64_t min_seq =
        std::max(ctx_.seen.get(target_).value_or(0), local ? local->seq : 0);
    traversal_.emplace(ctx_, TraversalOptions{.target = target_,
                                              .method = krpc::Method::FindValue,
                                              .stop_at_value = true,
                                              .min_seq = min_seq,
                                              .local = local,
                                              .trace = trace_});
    if (!traversal_->start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    check();
}

void GetOp::on_rpc(std::uint32_t, const NodeId& peer, const RpcEvent& e) {
    traversal_->on_rpc(peer, e);
    check();
}

void GetOp::check() {
    if (!traversal_->done()) return;
    const Lookup& l = traversal_->lookup();
    result_.queries = l.queries();
    result_.elapsed = ctx_.now - started_;
    result_.bound = l.bound();
    const auto& found = l.value();
    if (!found) {
        result_.hops = l.hops();
        if (l.queries() == 0) {
            result_.fail(Failure::NoContacts, "not found (no contacts to ask)");
        } else if (l.results().empty()) {
            result_.fail(Failure::Timeout, "not found (no node answered)");
        } else {
            result_.fail(Failure::NotFound, "not found");
        }
        return finish();
    }
    result_.ok = true;
    result_.item = found->item;
    result_.from = {found->from_id, found->from};
    result_.hops = found->hops;
    note_seen(ctx_, target_, found->item.seq);
    cache(*found);
    finish();
}

void GetOp::cache(const FoundValue& found) {
    // At the nearest node that answered without it, so that the next get ends sooner.
    const LookupCandidate* c = traversal_->lookup().cache_target();
    if (!c) return;
    const StoreJob job{found.item.key, found.item.value, found.item.seq, std::nullopt};
    if (ctx_.rpc.query(c->endpoint, c->id, store_query(ctx_.rpc, job, *c->token),
                       [](const RpcEvent&) {})) {
        ++ctx_.stats.values_cached;
    }
}

void GetOp::cancel() {
    if (traversal_) {
        traversal_->stop();
        result_.queries = traversal_->lookup().queries();
    }
    result_.elapsed = ctx_.now - started_;
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

void GetOp::complete() {
    done_(result_);
}

}  // namespace kad::ops
