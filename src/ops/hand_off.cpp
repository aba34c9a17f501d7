#include "ops/hand_off.hpp"

namespace kad::ops {

HandOffOp::HandOffOp(Context& ctx, Callback<HandoffResult> done)
    : ctx_(ctx), done_(std::move(done)), started_(ctx.now) {}

void HandOffOp::start() {
    std::vector<const Contact*> nearest;
    for (const auto& [target, item] : ctx_.storage.items()) {
        const Duration left = item.expires - ctx_.now;
        if (left <= Duration::zero()) continue;
        Task t;
        t.job = StoreJob{item.key, item.value, item.seq, left};
        ctx_.table.closest(target, 2 * ctx_.config.k, nearest);
        for (const Contact* c : nearest) t.nodes.push_back({c->id, c->endpoint});
        tasks_.push_back(std::move(t));
    }
    result_.items = tasks_.size();
    step();
}

bool HandOffOp::send(std::size_t request, krpc::Query query) {
    const krpc::NodeInfo& node = requests_[request].node;
    return !ctx_.rpc.unreachable(node.endpoint) &&
           ctx_.rpc.query(node.endpoint, node.id, std::move(query),
                          handler(static_cast<std::uint32_t>(request), node.id));
}

void HandOffOp::launch(std::size_t i) {
    Task& t = tasks_[i];
    while (running_ < ctx_.config.max_handoffs && t.confirmed + t.running < ctx_.config.k &&
           t.next < t.nodes.size()) {
        const krpc::NodeInfo node = t.nodes[t.next++];
        if (silent_.count(node.id)) continue;
        ++result_.asked;
        const std::size_t r = requests_.size();
        requests_.push_back(Request{i, node, false});
        const NodeId target = NodeId::from_key(t.job.key);
        if (!send(r, ctx_.rpc.make_query(krpc::FindValueArgs{target, std::nullopt}))) {
            ++result_.failed;
            silent_.insert(node.id);
            continue;
        }
        ++t.running;
        ++running_;
    }
}

void HandOffOp::on_rpc(std::uint32_t slot, const NodeId&, const RpcEvent& e) {
    if (e.kind == RpcEventKind::SoftTimeout || slot >= requests_.size()) return;
    if (requests_[slot].storing) {
        on_store(slot, e);
    } else {
        on_find_value(slot, e);
    }
    step();
}

void HandOffOp::on_find_value(std::size_t request, const RpcEvent& e) {
    Request& r = requests_[request];
    const StoreJob& job = tasks_[r.task].job;
    const krpc::Response* resp =
        e.kind == RpcEventKind::Reply ? &std::get<krpc::Response>(e.message->body) : nullptr;
    // An item for another key is no answer at all.
    if (resp && resp->item && NodeId::from_key(resp->item->key) != NodeId::from_key(job.key)) {
        resp = nullptr;
    }
    if (!resp || !resp->token) {
        ++result_.failed;
        silent_.insert(r.node.id);
        return ended(request, false);
    }
    if (resp->item && resp->item->seq >= job.seq) {
        ++result_.already_had;
        return ended(request, true);
    }
    r.storing = true;
    if (!send(request, store_query(ctx_.rpc, job, *resp->token))) {
        ++result_.failed;
        ended(request, false);
    }
}

void HandOffOp::on_store(std::size_t request, const RpcEvent& e) {
    const bool ok = e.kind == RpcEventKind::Reply;
    ++(ok ? result_.stored : result_.failed);
    ended(request, ok);
}

void HandOffOp::ended(std::size_t request, bool confirmed) {
    Task& t = tasks_[requests_[request].task];
    --t.running;
    --running_;
    if (confirmed) ++t.confirmed;
    launch(requests_[request].task);  // a replacement for a node that failed
}

void HandOffOp::step() {
    while (cursor_ < tasks_.size() && running_ < ctx_.config.max_handoffs) launch(cursor_++);
    if (running_ > 0 || cursor_ < tasks_.size() || finished()) return;
    for (const Task& t : tasks_) {
        if (t.confirmed < ctx_.config.k) ++result_.short_items;
    }
    result_.ok = true;
    result_.elapsed = ctx_.now - started_;
    // Debug: the outcome is the caller's to report (kadnode prints it as an event).
    KAD_LOG(ctx_.log, Debug,
            "hand-off: " + std::to_string(result_.items) + " items; copies stored " +
                std::to_string(result_.stored) + ", already there " +
                std::to_string(result_.already_had) + ", failed " + std::to_string(result_.failed));
    finish();
}

void HandOffOp::cancel() {
    result_.elapsed = ctx_.now - started_;
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

}  // namespace kad::ops
