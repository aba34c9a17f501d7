#include "kad/foreign_nodes.hpp"

#include <algorithm>

namespace kad {

void ForeignNodes::add(const NodeId& id) {
    if (capacity_ == 0 || !set_.insert(id).second) return;
    if (order_.size() < capacity_) {
        order_.push_back(id);
        return;
    }
    set_.erase(order_[oldest_]);
    order_[oldest_] = id;
    oldest_ = (oldest_ + 1) % capacity_;
}

void ForeignNodes::suspect(const NodeId& id) {
    if (suspects_capacity_ == 0 || contains(id)) return;
    if (std::find(suspects_.begin(), suspects_.end(), id) != suspects_.end()) return;
    if (suspects_.size() >= suspects_capacity_) suspects_.erase(suspects_.begin());
    suspects_.push_back(id);
}

void ForeignNodes::answered(const NodeId& id) {
    auto it = std::find(suspects_.begin(), suspects_.end(), id);
    if (it == suspects_.end()) return;
    suspects_.erase(it);
    add(id);
}

}  // namespace kad
