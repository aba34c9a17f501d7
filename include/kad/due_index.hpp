#pragma once
// When each of a set of items (by target) is next due: the schedule of Maintenance's republishes
// and of ItemRefresh's puts. Ordered by time, then target, so the next due time and the items
// due by a given time cost O(log n), not a scan.

#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kad/node_id.hpp"
#include "kad/time.hpp"

namespace kad {

class DueIndex {
public:
    // Sets (or moves) the target's time.
    void schedule(const NodeId& target, TimePoint at);
    void forget(const NodeId& target);
    std::optional<TimePoint> due(const NodeId& target) const;
    bool contains(const NodeId& target) const { return due_.contains(target); }
    // The earliest time, TimePoint::max() when empty.
    TimePoint next() const;
    // The targets due at `now` or before, earliest first.
    std::vector<NodeId> due_by(TimePoint now) const;
    std::size_t size() const noexcept { return due_.size(); }
    bool empty() const noexcept { return due_.empty(); }

private:
    std::unordered_map<NodeId, TimePoint> due_;
    std::set<std::pair<TimePoint, NodeId>> by_due_;
};

}  // namespace kad
