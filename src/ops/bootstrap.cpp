#include "ops/bootstrap.hpp"

#include <algorithm>

#include "ops/find.hpp"

namespace kad::ops {

BootstrapOp::BootstrapOp(Context& ctx, std::vector<BootstrapPeer> peers,
                         Callback<BootstrapResult> done)
    : ctx_(ctx), peers_(std::move(peers)), done_(std::move(done)), started_(ctx.now) {}

void BootstrapOp::start() {
    for (std::uint32_t i = 0; i < peers_.size(); ++i) {
        BootstrapPeer& p = peers_[i];
        p.endpoint = p.endpoint.normalized();
        if (auto why = ctx_.rpc.unreachable(p.endpoint)) {
            peer_failed(Failure::Unreachable, *why);  // the reason names the address
            continue;
        }
        if (ctx_.rpc.query(p.endpoint, p.id, ctx_.rpc.make_query(krpc::PingArgs{}), handler(i))) {
            ++pending_pings_;
        } else {
            peer_failed(Failure::Busy, p.endpoint.to_string() + ": too many queries in flight");
        }
    }
    if (pending_pings_ > 0) return;
    if (peers_.empty()) return conclude(Failure::BadArgument, "no bootstrap nodes given");
    fail_with_errors("no bootstrap node reachable");
}

void BootstrapOp::on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot < self_slot()) return on_ping(peers_[slot], e);
    on_lookup(slot, peer, e);
}

void BootstrapOp::on_ping(const BootstrapPeer& peer, const RpcEvent& e) {
    if (e.kind == RpcEventKind::SoftTimeout) return;
    --pending_pings_;
    if (e.kind == RpcEventKind::Reply) {
        if (self_lookup_) return;  // the first answer started it
        self_lookup_.emplace(ctx_, TraversalOptions{.target = ctx_.self});
        if (!self_lookup_->start(*this, self_slot()))
            return conclude(Failure::Busy, kTooManyLookups);
        if (self_lookup_->done()) start_refreshes();
        return;
    }
    peer_failed(failure_of(e), peer.endpoint.to_string() + ": " + failure_text(e));
    if (pending_pings_ == 0 && !self_lookup_) fail_with_errors("no bootstrap node answered");
}

void BootstrapOp::on_lookup(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot == self_slot()) {
        const bool was_done = self_lookup_->done();
        self_lookup_->on_rpc(peer, e);
        if (!was_done && self_lookup_->done()) start_refreshes();
        return;
    }
    Traversal& t = *refreshes_.at(slot - self_slot() - 1);
    const bool was_done = t.done();
    t.on_rpc(peer, e);
    if (!was_done && t.done() && --pending_lookups_ == 0) conclude(Failure::None, {});
}

void BootstrapOp::start_refreshes() {
    // Every range farther from us than our nearest neighbour, whether or not the table has split
    // that far yet (a table with few contacts has few buckets), but none nearer than the range
    // of the k-th node the lookup of our own ID found: every node in those is nearer than it,
    // so the lookup asked it, and it answered into our table (a fifth of a join's datagrams;
    // docs/ARCHITECTURE.md, "Bootstrap and refresh"). Each refresh converges on k/2 nodes, not
    // k: that half-fills the bucket (the nodes it asks answer, and answering nodes go in), and
    // the rest fills as nodes there query us; a join costs 15-30 % less (docs/BENCHMARKS.md).
    // It asks each node once: it wants contacts in its range, not the exact nearest to a random
    // point, so a silent node is passed over.
    const auto nearest = ctx_.table.closest(ctx_.self, 1, true);
    int farther = nearest.empty() ? 0 : common_prefix_length(ctx_.self, nearest.front()->id);
    const auto found = self_lookup_->lookup().results();
    if (found.size() >= ctx_.config.k) {
        farther = std::min(farther, common_prefix_length(ctx_.self, found.back()->id) + 1);
    }
    const std::size_t k = std::max<std::size_t>(1, ctx_.config.k / 2);
    for (int i = 0; i < farther; ++i) {
        const NodeId target =
            NodeId::random_with_prefix(ctx_.self.with_bit_flipped(i), i + 1, ctx_.rng);
        refreshes_.push_back(std::make_unique<Traversal>(
            ctx_, TraversalOptions{.target = target, .k = k, .attempts = 1}));
        const auto slot = self_slot() + static_cast<std::uint32_t>(refreshes_.size());
        if (!refreshes_.back()->start(*this, slot)) continue;  // too many lookups: skip it
        if (!refreshes_.back()->done()) ++pending_lookups_;
    }
    if (pending_lookups_ == 0) conclude(Failure::None, {});
}

void BootstrapOp::peer_failed(Failure code, std::string why) {
    if (first_failure_ == Failure::None) first_failure_ = code;
    errors_.push_back(std::move(why));
}

void BootstrapOp::fail_with_errors(std::string what) {
    for (std::size_t i = 0; i < errors_.size(); ++i) what += (i == 0 ? " (" : "; ") + errors_[i];
    if (!errors_.empty()) what += ")";
    conclude(first_failure_ == Failure::None ? Failure::Timeout : first_failure_, std::move(what));
}

void BootstrapOp::conclude(Failure code, std::string error) {
    if (finished()) return;
    result_.elapsed = ctx_.now - started_;
    result_.contacts = ctx_.table.size();
    if (code == Failure::None && result_.contacts == 0) {
        // They answered, but the table took none of them.
        code = Failure::NoContacts;
        error = "the bootstrap nodes answered, but none entered the routing table";
        if (ctx_.table.ids_refused() > 0) {
            error += " (their IDs do not match their addresses, and BEP 42 is required)";
        }
    }
    if (code == Failure::None) {
        result_.ok = true;
        // Debug: the outcome is the caller's to report (kadnode prints it as an event).
        KAD_LOG(ctx_.log, Debug,
                "bootstrap: joined with " + std::to_string(result_.contacts) +
                    (result_.contacts == 1 ? " contact" : " contacts"));
    } else {
        result_.fail(code, std::move(error));
        KAD_LOG(ctx_.log, Debug, "bootstrap: failed: " + result_.error);
    }
    finish();
}

void BootstrapOp::cancel() {
    if (self_lookup_) self_lookup_->stop();
    for (auto& t : refreshes_) t->stop();
    conclude(Failure::Cancelled, "cancelled");
}

}  // namespace kad::ops
