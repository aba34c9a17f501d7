#include "kad/seen_seq.hpp"

#include <algorithm>

namespace kad {

bool SeenSeq::note(const NodeId& target, std::int64_t seq) {
    if (auto it = seqs_.find(target); it != seqs_.end()) {
        it->second = std::max(it->second, seq);
        return false;
    }
    if (capacity_ == 0) return false;
    bool evicted = false;
    if (order_.size() < capacity_) {
        order_.push_back(target);
    } else {
        seqs_.erase(order_[next_]);
        order_[next_] = target;
        next_ = (next_ + 1) % order_.size();
        evicted = true;
    }
    seqs_.emplace(target, seq);
    return evicted;
}

std::optional<std::int64_t> SeenSeq::get(const NodeId& target) const {
    auto it = seqs_.find(target);
    if (it == seqs_.end()) return std::nullopt;
    return it->second;
}

}  // namespace kad
