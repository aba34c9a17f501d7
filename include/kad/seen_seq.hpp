#pragma once
// The highest seq seen for each key, so that a get never returns a version older than one this
// node has already seen, and a put goes past it. Bounded: at capacity, the entry noted longest ago
// is forgotten to make room (first in, first out).

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kad/node_id.hpp"

namespace kad {

class SeenSeq {
public:
    explicit SeenSeq(std::size_t capacity) : capacity_(capacity) {}

    // Remembers seq for target if it is the highest seen. Returns true if another key was
    // forgotten to make room.
    bool note(const NodeId& target, std::int64_t seq);
    std::optional<std::int64_t> get(const NodeId& target) const;
    std::size_t size() const noexcept { return seqs_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

private:
    std::size_t capacity_;
    std::unordered_map<NodeId, std::int64_t> seqs_;
    std::vector<NodeId> order_;  // a ring of the keys, in the order they were first noted
    std::size_t next_ = 0;       // the oldest, once the ring is full
};

}  // namespace kad
