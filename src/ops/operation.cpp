#include "ops/operation.hpp"

namespace kad::ops {

RpcHandler Operation::handler(std::uint32_t slot, const NodeId& peer) const {
    return [table = table_, id = id_, slot, peer](const RpcEvent& e) {
        table->deliver(id, slot, peer, e);
    };
}

void Operations::deliver(OpId id, std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    auto it = ops_.find(id);
    if (it == ops_.end()) return;  // it ended: a late reply
    it->second->on_rpc(slot, peer, e);
    settle(id);
}

void Operations::settle(OpId id) {
    auto it = ops_.find(id);
    if (it == ops_.end() || !it->second->finished()) return;
    std::unique_ptr<Operation> done = std::move(it->second);
    ops_.erase(it);
    done->complete();
}

bool Operations::cancel(OpId id) {
    if (auto g = guards_.find(id); g != guards_.end()) {
        auto fail = std::move(g->second);
        guards_.erase(g);
        fail();
        return true;
    }
    auto it = ops_.find(id);
    if (it == ops_.end()) return false;
    std::unique_ptr<Operation> op = std::move(it->second);
    ops_.erase(it);
    op->cancel();
    op->complete();
    return true;
}

void Operations::cancel_guards() {
    auto all = std::move(guards_);
    guards_.clear();
    for (auto& [id, fail] : all) fail();
}

std::vector<std::unique_ptr<Operation>> Operations::take_all() {
    std::vector<std::unique_ptr<Operation>> all;
    all.reserve(ops_.size());
    for (auto& [id, op] : ops_) all.push_back(std::move(op));
    ops_.clear();
    return all;
}

}  // namespace kad::ops
