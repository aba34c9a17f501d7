#pragma once
// The simulator's queue of events, in the order (at, then seq) that a binary heap would give,
// kept as a calendar: a ring of buckets, each for a slice of virtual time (2^20 ns, about a
// millisecond), and a heap for the events past the ring's horizon. An event goes into its
// slice's bucket unsorted; a bucket is made a heap when the clock reaches it, so what is ordered
// against each other is mostly one millisecond's events. (After top() has looked ahead, or
// jumped an empty ring to a far event, events pushed for earlier times join that current heap
// until the clock gets there: still in order, at a heap's cost.)
//
// Why not std::priority_queue: at 100,000 simulated nodes the queue holds hundreds of thousands
// of events, and every pop walked the heap's 18 levels, most of them cache misses (the top
// function of the simulator's profile). Here a push is an append and a pop works in a heap of
// the few hundred events of one slice.
//
// E must have `TimePoint at`, never before TimePoint{} (the simulator's clock starts there),
// and a strict `operator>` that orders by `at` first; events that compare equal leave in an
// unspecified order, as from a heap.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kad/time.hpp"

namespace kad::sim {

// 2^slice_shift ns a bucket, 2^ring_bits buckets: by default about 1 ms and a horizon of 8.6 s.
struct CalendarShape {
    unsigned slice_shift = 20;
    unsigned ring_bits = 13;
};

template <class E>
class EventQueue {
public:
    explicit EventQueue(CalendarShape shape = {})
        : shift_(shape.slice_shift), ring_(std::size_t{1} << shape.ring_bits) {}

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    void push(const E& e) {
        ++size_;
        const std::uint64_t s = slot(e);
        if (s <= cur_slot_) {  // now, or (after top() looked ahead) before the current slice
            ++in_ring_;
            current().push_back(e);
            std::push_heap(current().begin(), current().end(), std::greater<>{});
        } else if (s - cur_slot_ < ring_.size()) {
            ++in_ring_;
            std::vector<E>& bucket = ring_[s & mask()];
            if (bucket.capacity() == 0 && !spare_.empty()) {
                bucket = std::move(spare_.back());
                spare_.pop_back();
            }
            bucket.push_back(e);
        } else {
            far_.push_back(e);
            std::push_heap(far_.begin(), far_.end(), std::greater<>{});
        }
    }

    // The earliest event. Not empty(). Moves the current slice forward to it, which later
    // pushes for earlier times allow (they join the current slice's heap).
    const E& top() {
        while (current().empty()) advance();
        return current().front();
    }

    void pop() {
        top();
        std::pop_heap(current().begin(), current().end(), std::greater<>{});
        current().pop_back();
        --in_ring_;
        --size_;
    }

private:
    std::uint64_t slot(const E& e) const {
        return static_cast<std::uint64_t>(e.at.time_since_epoch().count()) >> shift_;
    }
    std::size_t mask() const { return ring_.size() - 1; }
    std::vector<E>& current() { return ring_[cur_slot_ & mask()]; }

    // To the next slice holding events (straight to the far heap's first when the ring is
    // empty), bringing the far events the horizon now reaches into the ring.
    void advance() {
        // The bucket left behind gives its buffer to the spares, so that a bucket keeps no more
        // than it holds: with each keeping the most it ever held, the ring took half as much
        // memory again as 3,000 simulated nodes.
        if (current().capacity() > 0) {
            if (spare_.size() < kSpares) spare_.push_back(std::move(current()));
            current() = std::vector<E>{};
        }
        if (in_ring_ == 0) {
            cur_slot_ = slot(far_.front());
        } else {
            ++cur_slot_;
        }
        while (!far_.empty() && slot(far_.front()) - cur_slot_ < ring_.size()) {
            std::pop_heap(far_.begin(), far_.end(), std::greater<>{});
            ring_[slot(far_.back()) & mask()].push_back(far_.back());
            far_.pop_back();
            ++in_ring_;
        }
        std::make_heap(current().begin(), current().end(), std::greater<>{});
    }

    static constexpr std::size_t kSpares = 64;

    unsigned shift_;
    std::vector<std::vector<E>> ring_;
    std::vector<std::vector<E>> spare_;  // empty, with room
    std::vector<E> far_;                 // a heap: slices at or past cur_slot_ + ring size
    std::uint64_t cur_slot_ = 0;         // the current slice; its bucket is a heap
    std::size_t in_ring_ = 0;            // events in the ring's buckets
    std::size_t size_ = 0;
};

}  // namespace kad::sim
