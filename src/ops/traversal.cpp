#include "ops/traversal.hpp"

#include <algorithm>

#include "ops/items.hpp"

namespace kad::ops {

namespace {

LookupParams params_for(const Context& ctx, const TraversalOptions& o) {
    LookupParams p;
    p.target = o.target;
    p.self = ctx.self;
    p.k = o.k != 0 ? o.k : ctx.config.k;
    p.alpha = ctx.config.alpha;
    p.stop_at_value = o.stop_at_value;
    p.max_attempts = o.attempts != 0 ? o.attempts : ctx.config.lookup_attempts;
    // Patience only where silence may be slowness: on a LAN, or any path whose round trips are
    // alike, a candidate silent past its retries is lost or dead, and waiting for it is waste.
    p.wait_nearest = ctx.rpc.slow_tail() ? ctx.config.lookup_wait_nearest : 0;
    p.wait_max_silent = ctx.config.lookup_wait_max_silent;
    p.max_candidates = ctx.config.lookup_candidates;
    p.min_seq = o.min_seq;
    p.need_token = o.method == krpc::Method::FindValue;  // kadnode's items: who can hold them
    return p;
}

}  // namespace

Traversal::Traversal(Context& ctx, const TraversalOptions& options)
    : ctx_(ctx),
      lookup_(params_for(ctx, options)),
      method_(options.method),
      salt_(options.salt),
      trace_(options.trace),
      local_(options.local) {}

Traversal::~Traversal() {
    stop();
}

void Traversal::stop() {
    if (!running_) return;
    running_ = false;
    --ctx_.lookups;
}

bool Traversal::admit(Context& ctx) {
    if (ctx.lookups < ctx.config.max_lookups) return true;
    ++ctx.stats.lookups_refused;
    return false;
}

bool Traversal::start(const Operation& owner, std::uint32_t slot) {
    if (!admit(ctx_)) return false;
    owner_ = &owner;
    slot_ = slot;
    started_ = ctx_.now;
    running_ = true;
    ++ctx_.lookups;
    ++ctx_.stats.lookups_started;
    // Twice k seeds: when the nearest contacts have died unnoticed (their bucket still holds
    // them), the farther seeds move into the window as they time out, and the lookup goes on.
    const NodeId& target = lookup_.target();
    const auto seeds = ctx_.table.closest(target, 2 * ctx_.config.k);
    for (const Contact* c : seeds) lookup_.add_seed(c->id, c->endpoint);
    // Fewer than k contacts without an unanswered query: the others too. In a small table they
    // may be the only ones this side of a partition (a query they missed while restarting).
    if (seeds.size() < ctx_.config.k) {
        for (const Contact* c : ctx_.table.closest(target, 2 * ctx_.config.k, true)) {
            lookup_.add_seed(c->id, c->endpoint);
        }
    }
    if (local_)
        lookup_.add_local_value(krpc::Item{local_->key, local_->value, local_->seq}, ctx_.self);
    local_ = nullptr;  // only for seeding: the item may change while the lookup runs
    ctx_.table.touch(target, ctx_.now);
    pump();
    return true;
}

krpc::Query Traversal::query(const NodeId& peer) const {
    // A node known not to speak kadnode's methods is asked find_node: it still routes a get or
    // a put, and is not counted on to answer find_value.
    const bool foreign = method_ == krpc::Method::FindValue && ctx_.rpc.foreign().contains(peer);
    switch (foreign ? krpc::Method::FindNode : method_) {
        case krpc::Method::FindValue:
            return ctx_.rpc.make_query(krpc::FindValueArgs{lookup_.target(), std::nullopt});
        case krpc::Method::GetPeers:
            return ctx_.rpc.make_query(krpc::GetPeersArgs{lookup_.target(), std::nullopt});
        case krpc::Method::Get:
            return ctx_.rpc.make_query(krpc::GetArgs{lookup_.target(), std::nullopt, std::nullopt});
        default:
            return ctx_.rpc.make_query(krpc::FindNodeArgs{lookup_.target(), std::nullopt});
    }
}

void Traversal::pump() {
    for (;;) {
        if (lookup_.done()) return conclude();
        auto batch = lookup_.next_queries();
        if (batch.empty()) return;
        bool refused = false;
        for (const auto& c : batch) {
            const krpc::Query q = query(c.id);
            const bool sent = ctx_.rpc.unreachable(c.endpoint) == std::nullopt &&
                              ctx_.rpc.query(c.endpoint, c.id, q, owner_->handler(slot_, c.id));
            if (trace_) {
                TraceEvent e =
                    event(sent ? TraceEvent::Kind::Query : TraceEvent::Kind::Unsendable, c.id);
                e.method = q.method();
                if (!sent) e.error = "not sent";
                trace_(e);
            }
            if (!sent) {
                lookup_.on_failed(c.id, true);
                refused = true;
            }
        }
        if (!refused) return;
        // Some queries could not be sent: the lookup may be done, or want others.
    }
}

void Traversal::conclude() {
    running_ = false;
    done_ = true;
    --ctx_.lookups;
    ++ctx_.stats.lookups_done;
    KAD_LOG(ctx_.log, Debug,
            "lookup " + lookup_.target().short_hex() +
                " done: " + std::to_string(lookup_.results().size()) + " nodes, " +
                std::to_string(lookup_.hops()) + " hops, " + std::to_string(lookup_.queries()) +
                " queries");
    ++ctx_.stats.lookup_hops[std::min<std::size_t>(static_cast<std::size_t>(lookup_.hops()), 15)];
    ctx_.stats.lookup_candidates_dropped += lookup_.dropped();
    if (trace_) {
        TraceEvent e;
        e.kind = TraceEvent::Kind::Done;
        e.at = ctx_.now - started_;
        e.queries = lookup_.queries();
        e.hops = lookup_.hops();
        trace_(e);
    }
}

TraceEvent Traversal::event(TraceEvent::Kind kind, const NodeId& peer) const {
    TraceEvent e;
    e.kind = kind;
    e.id = peer;
    e.distance = NodeId::kBits - common_prefix_length(peer, lookup_.target());
    if (const LookupCandidate* c = lookup_.candidate(peer)) {
        e.depth = c->depth;
        e.endpoint = c->endpoint;
    }
    e.at = ctx_.now - started_;
    return e;
}

std::string Traversal::item_problem(const krpc::Item& item) const {
    if (NodeId::from_key(item.key) != lookup_.target()) return "an item for another key";
    if (auto why = ctx_.storage.size_error(item.key, item.value); !why.empty()) {
        return "an item over the limits (" + why + ")";
    }
    return {};
}

std::string Traversal::data_problem(const krpc::Response& resp) const {
    const auto item = item_in(resp, salt_);
    return item ? bep44::problem(*item, lookup_.target()) : std::string();
}

std::string Traversal::on_answer(const NodeId& peer, const krpc::Response& resp, Duration rtt) {
    static const std::optional<krpc::Item> kNoItem;
    if (method_ == krpc::Method::Get) {
        if (auto why = data_problem(resp); !why.empty()) {
            // As for find_value: a node that answers with a forged or foreign item is not
            // believed about its neighbours either.
            ++ctx_.stats.bad_items;
            KAD_LOG(ctx_.log, Debug, "ignored the answer of " + peer.short_hex() + ": " + why);
            lookup_.on_failed(peer, true);
            return why;
        }
    }
    if (method_ != krpc::Method::FindValue || !resp.item) {
        if (lookup_.on_reply(peer, resp.nodes, resp.token, kNoItem, rtt) && answered_) {
            answered_(resp);
        }
        return {};
    }
    if (auto why = item_problem(*resp.item); !why.empty()) {
        // A peer answering with an item for another key, or one we would refuse to store, is
        // not to be believed about anything else either.
        ++ctx_.stats.bad_items;
        KAD_LOG(ctx_.log, Debug, "ignored the answer of " + peer.short_hex() + ": " + why);
        lookup_.on_failed(peer, true);
        return why;
    }
    if (lookup_.on_reply(peer, resp.nodes, resp.token, resp.item, rtt) && answered_)
        answered_(resp);
    return {};
}

void Traversal::on_rpc(const NodeId& peer, const RpcEvent& e) {
    if (!running_) return;  // done: a late answer
    // What the trace says of it, once the lookup has taken it in (the new candidates counted).
    std::optional<TraceEvent> traced;
    switch (e.kind) {
        case RpcEventKind::Reply: {
            const auto& resp = std::get<krpc::Response>(e.message->body);
            const std::size_t before = lookup_.candidates();
            const std::string why = on_answer(peer, resp, e.rtt);
            if (trace_) {
                traced =
                    event(why.empty() ? TraceEvent::Kind::Reply : TraceEvent::Kind::Error, peer);
                traced->rtt = e.rtt;
                traced->error = why;
                traced->nodes = resp.nodes.size();
                traced->fresh = lookup_.candidates() > before ? lookup_.candidates() - before : 0;
                traced->value = resp.item || (resp.values && !resp.values->empty()) || resp.data;
                traced->token = resp.token.has_value();
            }
            break;
        }
        case RpcEventKind::ErrorReply:
            lookup_.on_failed(peer, true);
            if (trace_) {
                traced = event(TraceEvent::Kind::Error, peer);
                traced->rtt = e.rtt;
                traced->error = failure_text(e);
            }
            break;
        case RpcEventKind::SoftTimeout:
            lookup_.on_soft_timeout(peer);
            if (trace_) traced = event(TraceEvent::Kind::SoftTimeout, peer);
            break;
        case RpcEventKind::Failed:
            lookup_.on_failed(peer, e.failure != Failure::Timeout);
            if (trace_) {
                const bool timeout = e.failure == Failure::Timeout;
                traced = event(timeout ? TraceEvent::Kind::Timeout : TraceEvent::Kind::Error, peer);
                traced->error = failure_text(e);
            }
            break;
    }
    if (traced) trace_(*traced);
    pump();
}

}  // namespace kad::ops
