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
    first_ = first_slot;
    for (const LookupCandidate* c : nodes) {
        if (!c->token) continue;
        const auto slot = first_ + static_cast<std::uint32_t>(nodes_.size());
        nodes_.push_back({c->id, c->endpoint});
        ended_.push_back(false);
        if (ctx.rpc.query(c->endpoint, c->id, make(*c->token), owner.handler(slot, c->id))) {
            ++pending_;
        } else {
            ended_.back() = true;
            ++failed;
        }
    }
}

bool StoreOnNodes::on_rpc(std::uint32_t slot, const RpcEvent& e) {
    if (slot < first_ || slot - first_ >= nodes_.size()) return false;
    const std::size_t i = slot - first_;
    if (e.kind == RpcEventKind::SoftTimeout || ended_[i]) return true;
    ended_[i] = true;
    --pending_;
    if (e.kind == RpcEventKind::Reply) {
        ++stored;
    } else if (e.kind == RpcEventKind::ErrorReply) {
        ++refused;
        refusals.emplace_back(nodes_[i], failure_text(e));
    } else {
        ++failed;
    }
    return true;
}

}  // namespace kad::ops
