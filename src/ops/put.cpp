#include "ops/put.hpp"

#include <algorithm>
#include <limits>

#include "kad/maintenance.hpp"
#include "kad/query_handler.hpp"
#include "ops/find.hpp"

namespace kad::ops {

// ---- PutOp ----------------------------------------------------------------------------------

PutOp::PutOp(Context& ctx, std::string key, std::string value, PutOptions options,
             Callback<PutResult> done)
    : ctx_(ctx),
      value_(std::move(value)),
      options_(std::move(options)),
      done_(std::move(done)),
      started_(ctx.now) {
    result_.key = std::move(key);
}

void PutOp::start() {
    if (auto why = ctx_.storage.size_error(result_.key, value_); !why.empty()) {
        result_.fail(Failure::BadArgument, why);
        return finish();
    }
    const std::size_t reply = value_reply_size(ctx_.config, result_.key, value_);
    if (auto why = reply_budget_error(ctx_.config, reply); !why.empty()) {
        result_.fail(Failure::BadArgument, why);
        return finish();
    }
    if (options_.seq && *options_.seq < 0) {
        result_.fail(Failure::BadArgument, "seq must not be negative");
        return finish();
    }
    target_ = NodeId::from_key(result_.key);
    traversal_.emplace(ctx_, TraversalOptions{.target = target_,
                                              .method = krpc::Method::FindValue,
                                              .local = ctx_.storage.find(target_),
                                              .trace = options_.trace});
    if (!traversal_->start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    if (traversal_->done()) on_lookup_done();
}

void PutOp::on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot == 0) {
        const bool was_done = traversal_->done();
        traversal_->on_rpc(peer, e);
        if (!was_done && traversal_->done()) on_lookup_done();
        return;
    }
    stores_.on_rpc(slot, e);
    check_stores();
}

std::optional<std::int64_t> PutOp::choose_seq() {
    const auto& latest = traversal_->lookup().value();
    if (options_.seq) {
        // Nodes refuse a seq too far above the one they hold (StorageConfig::max_seq_step).
        const std::optional<std::int64_t> seen = ctx_.seen.get(target_);
        const std::int64_t held = std::max(latest ? latest->item.seq : 0, seen.value_or(0));
        const std::int64_t most =
            latest || seen ? ctx_.storage.max_seq_for(held) : ctx_.storage.config().max_new_seq;
        if (*options_.seq > most) {
            result_.fail(Failure::BadArgument, "seq " + std::to_string(*options_.seq) +
                                                   " is too far above the newest version's (" +
                                                   std::to_string(held) + "): at most " +
                                                   std::to_string(most));
            return std::nullopt;
        }
        return *options_.seq;
    }
    if (latest && latest->item.value == value_) return latest->item.seq;  // a refresh
    const std::optional<std::int64_t> seen = ctx_.seen.get(target_);
    if (!latest && !seen) return 0;
    const std::int64_t newest = std::max(latest ? latest->item.seq : 0, seen.value_or(0));
    if (newest == std::numeric_limits<std::int64_t>::max()) {
        result_.fail(Failure::SeqExhausted,
                     "the newest version has the largest seq there is; nothing can supersede it");
        return std::nullopt;
    }
    return newest + 1;
}

void PutOp::on_lookup_done() {
    const Lookup& l = traversal_->lookup();
    result_.queries = l.queries();
    result_.hops = l.hops();
    result_.bound = l.bound();
    const auto seq = choose_seq();
    if (!seq) {
        result_.elapsed = ctx_.now - started_;
        return finish();
    }
    result_.seq = *seq;
    const StoreJob job{result_.key, value_, *seq, options_.ttl};
    if (const StoredItem* before = ctx_.storage.find(target_)) previous_ = *before;
    const bool here = accepted(ctx_.storage.store(
        ctx_.now,
        {.key = job.key, .value = job.value, .seq = job.seq, .ttl = job.ttl, .ours = true}));
    kept_here_ = here;
    if (here) ctx_.maintenance.on_published(target_);
    // Our copy serves gets, but if it could not reach the journal (the refusal is set as the
    // store writes it) it would not survive a crash: not counted as kept.
    result_.stored_locally = here && ctx_.store_refusal.empty();
    note_seen(ctx_, target_, *seq);
    stores_.start(ctx_, *this, 1, l.results(), job);
    check_stores();
}

void PutOp::take_counts() {
    PutResult& r = result_;
    r.elapsed = ctx_.now - started_;
    if (traversal_) {
        r.queries = traversal_->lookup().queries();
        r.hops = traversal_->lookup().hops();
        r.bound = traversal_->lookup().bound();
    }
    r.stored = stores_.stored;
    r.refused = stores_.refused;
    r.failed = stores_.failed;
    r.refusals = stores_.refusals;
}

void PutOp::undo_local_copy() {
    if (!kept_here_) return;
    // Only our version: another writer's newer one (or our own next put's), stored here while
    // the stores were out, stays.
    const StoredItem* now = ctx_.storage.find(target_);
    if (!now || !now->original || now->seq != result_.seq || now->value != value_) return;
    ctx_.storage.erase(target_);
    result_.stored_locally = false;
    if (previous_ && previous_->expires > ctx_.now && accepted(ctx_.storage.restore(*previous_))) {
        ctx_.maintenance.on_restored(target_);  // its schedule, as before
    }
}

void PutOp::check_stores() {
    if (!stores_.done()) return;
    take_counts();
    PutResult& r = result_;
    // Kept here alone is a success only where there is nobody else: with nodes known that did
    // not answer (queries went out), nobody but us holds it.
    r.ok = r.stored > 0 || (r.refused == 0 && r.failed == 0 && r.stored_locally && r.queries == 0);
    if (!r.ok) {
        if (r.refused > 0 && stores_.too_big == r.refused && r.failed == 0) {
            // Every node asked refused it for its size: no node of the network will hold it,
            // and our copy must not answer a get as if one did. The copy we had comes back.
            undo_local_copy();
            r.fail(Failure::Refused, "refused by every node (" + r.refusals.front().second +
                                         "); not kept here either");
        } else if (!r.refusals.empty() && r.failed == 0) {
            r.fail(Failure::Refused, "refused by every node (" + r.refusals.front().second + ")");
        } else if (!r.refusals.empty()) {
            r.fail(Failure::Refused,
                   "refused by every node that answered (" + r.refusals.front().second + ")");
        } else if (!ctx_.store_refusal.empty() && r.failed == 0) {
            r.fail(Failure::Refused, "not kept here: " + ctx_.store_refusal);
        } else if (r.failed > 0) {
            r.fail(Failure::Timeout, "no node answered the store");
        } else if (r.queries == 0) {
            r.fail(Failure::NoContacts, "no node to store on");
        } else {
            r.fail(Failure::Timeout, "no node answered the lookup (" + std::to_string(r.queries) +
                                         (r.queries == 1 ? " query)" : " queries)") +
                                         (r.stored_locally ? "; kept here only" : ""));
        }
    }
    finish();
}

void PutOp::cancel() {
    if (traversal_) traversal_->stop();
    take_counts();
    result_.fail(Failure::Cancelled,
                 result_.stored_locally ? "cancelled; kept here only" : "cancelled");
    finish();
}

void PutOp::complete() {
    done_(result_);
}

// ---- RepublishOp ----------------------------------------------------------------------------

RepublishOp::RepublishOp(Context& ctx, StoreJob job, Callback<RepublishResult> done)
    : ctx_(ctx),
      job_(std::move(job)),
      traversal_(ctx, {.target = NodeId::from_key(job_.key), .method = krpc::Method::FindValue}),
      done_(std::move(done)) {}

void RepublishOp::cancel() {
    traversal_.stop();
    result_.stored = stores_.stored;  // the stores that were taken before the stop
    finish();
}

void RepublishOp::start() {
    if (!traversal_.start(*this, 0)) return finish();
    check();
}

void RepublishOp::on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot == 0) {
        traversal_.on_rpc(peer, e);
    } else {
        stores_.on_rpc(slot, e);
    }
    check();
}

void RepublishOp::check() {
    if (!traversal_.done()) return;
    if (!storing_) {
        storing_ = true;
        const auto results = traversal_.lookup().results();
        result_.displaced =
            results.size() >= ctx_.config.k &&
            compare_distance(traversal_.target(), ctx_.self, results.back()->id) > 0;
        stores_.start(ctx_, *this, 1, results, job_);
    }
    if (!stores_.done()) return;
    result_.stored = stores_.stored;
    finish();
}

}  // namespace kad::ops
