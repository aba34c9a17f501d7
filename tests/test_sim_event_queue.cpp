// The simulator's calendar queue against a binary heap: the same events in the same order.

#include <catch2/catch.hpp>
#include <functional>
#include <queue>
#include <vector>

#include "kad/random.hpp"
#include "kad/sim/event_queue.hpp"

using namespace kad;

namespace {

struct Ev {
    TimePoint at;
    std::uint64_t seq;
    bool operator>(const Ev& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    bool operator==(const Ev& o) const { return at == o.at && seq == o.seq; }
};

TimePoint ns(std::int64_t n) {
    return TimePoint{} + Duration(n);
}

// The queue under test beside a binary heap given the same events.
struct Mirrored {
    sim::EventQueue<Ev>& q;
    std::priority_queue<Ev, std::vector<Ev>, std::greater<>> heap;

    void push(const Ev& e) {
        q.push(e);
        heap.push(e);
    }
    // Pops from both; they must agree. Returns the event.
    Ev pop() {
        REQUIRE(q.size() == heap.size());
        REQUIRE(q.top() == heap.top());
        const Ev e = q.top();
        q.pop();
        heap.pop();
        return e;
    }
    // Pops everything left.
    void drain(std::vector<Ev>* popped = nullptr) {
        while (!heap.empty()) {
            const Ev e = pop();
            if (popped) popped->push_back(e);
        }
        REQUIRE(q.empty());
    }
};

// Pushes and pops at random, as the network does: every event at or after the last one popped
// ("now"), some in the current slice, some within the ring, some past its horizon, and some
// after top() has looked ahead but before what it found. Returns the events popped.
std::vector<Ev> drive(sim::EventQueue<Ev>& q, std::uint64_t seed) {
    constexpr std::size_t steps = 20000;
    SeededRandom rng(seed);
    Mirrored m{q, {}};
    std::vector<Ev> popped;
    std::int64_t now = 0;
    std::uint64_t seq = 0;
    const auto push = [&](std::int64_t at) { m.push({ns(at), seq++}); };
    for (std::size_t i = 0; i < steps; ++i) {
        const auto r = rng.uniform(100);
        if (r < 45 || m.heap.empty()) {
            // Slices of 16 ns and a ring of 8 in these tests: a horizon of 128 ns.
            const std::int64_t ahead = r < 10   ? 0
                                       : r < 20 ? static_cast<std::int64_t>(rng.uniform(16))
                                       : r < 35 ? static_cast<std::int64_t>(rng.uniform(128))
                                                : static_cast<std::int64_t>(rng.uniform(5000));
            push(now + ahead);
        } else if (r < 50) {
            // top() moves the current slice forward; then an event for a time before it.
            const std::int64_t next = q.top().at.time_since_epoch().count();
            REQUIRE(q.top() == m.heap.top());
            if (next > now)
                push(now + static_cast<std::int64_t>(
                               rng.uniform(static_cast<std::uint64_t>(next - now))));
        } else {
            popped.push_back(m.pop());
            now = popped.back().at.time_since_epoch().count();
        }
    }
    m.drain(&popped);
    return popped;
}

}  // namespace

TEST_CASE("the calendar queue pops events in the order of a binary heap", "[sim][queue]") {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        CAPTURE(seed);
        sim::EventQueue<Ev> q({.slice_shift = 4, .ring_bits = 3});  // 16 ns slices, 8 of them
        const auto popped = drive(q, seed);
        REQUIRE(popped.size() > 5000);
        for (std::size_t i = 1; i < popped.size(); ++i) REQUIRE_FALSE(popped[i - 1] > popped[i]);
    }
}

TEST_CASE("the calendar queue keeps its order with the simulator's slices", "[sim][queue]") {
    sim::EventQueue<Ev> q;  // ~1 ms slices, 8,192 of them
    Mirrored m{q, {}};
    SeededRandom rng(7);
    std::uint64_t seq = 0;
    std::int64_t now = 0;
    for (int i = 0; i < 50000; ++i) {
        // Datagrams milliseconds ahead, timers up to a minute ahead (past the 8.6 s horizon).
        const std::int64_t ahead = rng.chance(0.8)
                                       ? static_cast<std::int64_t>(rng.uniform(300'000'000))
                                       : static_cast<std::int64_t>(rng.uniform(60'000'000'000));
        m.push({ns(now + ahead), seq++});
        if (rng.chance(0.6)) now = m.pop().at.time_since_epoch().count();
    }
    m.drain();
}

TEST_CASE("the calendar queue crosses an idle gap to the next event", "[sim][queue]") {
    sim::EventQueue<Ev> q({.slice_shift = 4, .ring_bits = 3});
    q.push({ns(5), 0});
    q.push({ns(1'000'000'000'000), 1});  // far past the horizon
    q.push({ns(1'000'000'000'003), 2});
    REQUIRE(q.top().seq == 0);
    q.pop();
    REQUIRE(q.top().seq == 1);
    // An event for a time before the one top() found, pushed after it looked, comes first.
    q.push({ns(999'999'999'000), 3});
    REQUIRE(q.top().seq == 3);
    q.pop();
    REQUIRE(q.top().seq == 1);
    q.pop();
    REQUIRE(q.top().seq == 2);
    q.pop();
    REQUIRE(q.empty());
}
