#include "kad/due_index.hpp"

namespace kad {

void DueIndex::schedule(const NodeId& target, TimePoint at) {
    auto [it, added] = due_.try_emplace(target, at);
    if (!added) {
        by_due_.erase({it->second, target});
        it->second = at;
    }
    by_due_.insert({at, target});
}

void DueIndex::forget(const NodeId& target) {
    auto it = due_.find(target);
    if (it == due_.end()) return;
    by_due_.erase({it->second, target});
    due_.erase(it);
}

std::optional<TimePoint> DueIndex::due(const NodeId& target) const {
    auto it = due_.find(target);
    if (it == due_.end()) return std::nullopt;
    return it->second;
}

TimePoint DueIndex::next() const {
    return by_due_.empty() ? TimePoint::max() : by_due_.begin()->first;
}

std::vector<NodeId> DueIndex::due_by(TimePoint now) const {
    std::vector<NodeId> due;
    for (auto it = by_due_.begin(); it != by_due_.end() && it->first <= now; ++it) {
        due.push_back(it->second);
    }
    return due;
}

}  // namespace kad
