#include "ops/store_on_nodes.hpp"

#include <algorithm>

namespace kad::ops {

krpc::Query store_query(const Rpc& rpc, const StoreJob& job, std::string token) {
    krpc::StoreArgs a;
    a.target = NodeId::from_key(job.key);
    a.token = std::move(token);
    a.key = job.key;
    a.value = job.value;
    a.seq = job.seq;
    if (job.ttl) {
        const auto s = std::chrono::duration_cast<std::chrono::seconds>(*job.ttl).count();
        a.ttl = std::max<std::int64_t>(1, s);
    }
    return rpc.make_query(std::move(a));
}

void StoreOnNodes::start(Context& ctx, const Operation& owner, std::uint32_t first_slot,
                         const std::vector<const LookupCandidate*>& nodes, const StoreJob& job) {
    start(ctx, owner, first_slot, nodes,
          [&](std::string token) { return store_query(ctx.rpc, job, std::move(token)); });
}

void StoreOnNodes::start(Context& ctx, const Operation& owner, std::uint32_t first_slot,
                         const std::vector<const LookupCandidate*>& nodes,
                         const std::function<krpc::Query(std::string token)>& make) {
    ctx_ = &ctx;
    owner_ = &owner;
    first_ = first_slot;
    for (const LookupCandidate* c : nodes) {
        if (c->token) writes_.push_back({{c->id, c->endpoint}, make(*c->token)});
    }
    for (std::size_t i = 0; i < writes_.size(); ++i) {
        ++pending_;
        if (!send(i)) {
            ++failed;
            end(writes_[i]);
        }
    }
}

bool StoreOnNodes::send(std::size_t i) {
    Write& w = writes_[i];
    const auto slot = first_ + static_cast<std::uint32_t>(i);
    if (!ctx_->rpc.query(w.node.endpoint, w.node.id, w.query, owner_->handler(slot, w.node.id))) {
        return false;
    }
    ++w.sent;
    ++w.outstanding;
    return true;
}

void StoreOnNodes::end(Write& w) {
    w.ended = true;
    --pending_;
}

bool StoreOnNodes::on_rpc(std::uint32_t slot, const RpcEvent& e) {
    if (slot < first_ || slot - first_ >= writes_.size()) return false;
    const std::size_t i = slot - first_;
    Write& w = writes_[i];
    if (w.ended) return true;
    switch (e.kind) {
        case RpcEventKind::Reply:
            ++stored;
            accepting.push_back(w.node);
            break;
        case RpcEventKind::ErrorReply:
            ++refused;
            if (const auto* err = e.message ? std::get_if<krpc::Error>(&e.message->body) : nullptr;
                err && err->code == krpc::kMessageTooBig) {
                ++too_big;
            }
            refusals.emplace_back(w.node, failure_text(e));
            break;
        case RpcEventKind::SoftTimeout:
            if (w.sent > 1) {
                ++failed;  // silent through its last attempts' soft timeout too
                break;
            }
            while (w.sent < ctx_->config.lookup_attempts && send(i)) {
            }
            return true;
        case RpcEventKind::Failed:
            if (--w.outstanding > 0) return true;  // another attempt may still be answered
            ++failed;
            break;
    }
    end(w);
    return true;
}
}  // namespace kad::ops
