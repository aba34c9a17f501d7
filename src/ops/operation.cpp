#include "ops/operation.hpp"

#include <algorithm>
#include <utility>

namespace kad::ops {

RpcHandler Operation::handler(std::uint32_t slot, const NodeId& peer) const {
    return [table = table_, id = id_, slot, peer](const RpcEvent& e) {
        table->deliver(id, slot, peer, e);
    };
}

std::vector<Operations::Entry>::const_iterator Operations::find(OpId id) const {
    auto it = std::lower_bound(ops_.begin(), ops_.end(), id,
                               [](const Entry& e, OpId x) { return e.id < x; });
    return it != ops_.end() && it->id == id ? it : ops_.end();
}

std::vector<Operations::Entry>::iterator Operations::find(OpId id) {
    const auto it = std::as_const(*this).find(id);
    return ops_.begin() + (it - ops_.cbegin());
}

void Operations::deliver(OpId id, std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    auto it = find(id);
    if (it == ops_.end()) return;  // it ended: a late reply
    // The operation may start others, which moves the table: settle() looks it up again.
    it->op->on_rpc(slot, peer, e);
    settle(id);
}

void Operations::settle(OpId id) {
    auto it = find(id);
    if (it == ops_.end() || !it->op->finished()) return;
    std::unique_ptr<Operation> done = std::move(it->op);
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
    auto it = find(id);
    if (it == ops_.end()) return false;
    std::unique_ptr<Operation> op = std::move(it->op);
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
    for (auto& e : ops_) all.push_back(std::move(e.op));
    ops_.clear();
    return all;
}

}  // namespace kad::ops
