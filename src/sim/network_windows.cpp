// kad::sim::Network on several threads: windows, the threads that run them, the calls deferred
// to their ends (kad/sim/network.hpp, set_threads(); docs/ARCHITECTURE.md, "The simulator on
// several threads").
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "kad/sim/network.hpp"

namespace kad::sim {

namespace {

// A thread waiting for the others spins this many times (a few microseconds), then yields its
// core this many times (with more threads than cores, the one it waits for may need it), and
// then a worker sleeps until the next window (between runs).
constexpr int kSpins = 1 << 10;
constexpr int kYields = 1 << 12;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
}  // namespace

void Network::set_threads(unsigned threads) {
    if (threads == 0 || !nodes_.empty() || windows_ || tap_) {
        throw std::logic_error("sim::Network::set_threads: once, with threads > 0, before nodes");
    }
    windows_ = true;
    threads_ = threads;
    // On several threads, more partitions than threads: a thread that runs slower in a window
    // (its core shared, its memory slower to reach) leaves some of its own to the others.
    const std::size_t parts = threads == 1 ? 1 : 1 + std::size_t{kPartsPerThread} * threads;
    while (parts_.size() < parts) parts_.push_back(std::make_unique<Partition>());
    for (auto& o : outboxes_) o.resize(parts * parts);
    part_nodes_.assign(parts, 0);
    set_now(now_);  // the new partitions' clocks
    claimed_ = std::make_unique<std::atomic<std::uint64_t>[]>(parts);
    homes_.assign(threads, {});
    homes_stale_ = true;
    for (unsigned t = 1; t < threads; ++t) workers_.emplace_back([this, t] { worker(t); });
}

void Network::place_partitions() {
    // Each thread's own partitions hold about as many nodes as another's (each, in order, goes
    // to the thread with the fewest so far: the same threads as long as the partitions grow
    // alike), so that threads running alike seldom take another's. The first partition is the
    // calling thread's.
    std::vector<std::size_t> load(homes_.size(), 0);
    for (auto& h : homes_) h.clear();
    homes_[0].push_back(0);
    load[0] = part_nodes_[0];
    for (std::size_t p = 1; p < parts_.size(); ++p) {
        const auto t =
            static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        homes_[t].push_back(static_cast<std::uint32_t>(p));
        load[t] += part_nodes_[p];
    }
    homes_stale_ = false;
}

Duration Network::window() const {
    // With a path delay the model's latency is not used (a node with a model of its own uses
    // that one's).
    const Duration w = std::min(path_delay_ ? min_path_delay_ : model_.latency, min_node_latency_);
    if (w <= Duration::zero()) {
        throw std::logic_error("sim::Network: set_threads() needs a positive least delay");
    }
    return w;
}

TimePoint Network::earliest() {
    TimePoint t = TimePoint::max();
    for (auto& p : parts_) {
        if (!p->queue.empty()) t = std::min(t, p->queue.top().at);
        t = std::min(t, p->crossing_min);  // in the outboxes the next window drains
    }
    return t;
}

void Network::run_partition(std::size_t p) {
    Partition& part = *parts_[p];
    try {
        // The datagrams the other threads' nodes sent this one's in the last window.
        const std::size_t n = parts_.size();
        for (std::size_t q = 0; q < n; ++q) {
            Outbox& box = outboxes_[(window_count_ + 1) % 2][q * n + p];
            for (std::size_t k = 0; k < box.used; ++k) {
                Crossing& c = box.items[k];
                Event ev = c.ev;
                ev.payload = part.take_payload();
                std::swap(part.payloads[ev.payload].data, c.data);  // buffers go both ways
                part.payloads[ev.payload].source = c.source;
                part.queue.push(ev);
            }
            box.used = 0;
        }
        while (!part.queue.empty()) {
            const Event& top = part.queue.top();
            if (top.at > window_end_ || (top.at == window_end_ && !window_inclusive_)) break;
            const Event ev = top;
            part.queue.pop();
            part.now = ev.at;
            handle(part, ev);
        }
    } catch (...) {
        part.error = std::current_exception();
    }
}

bool Network::claim(std::size_t p) {
    return claimed_[p].exchange(window_count_, std::memory_order_acq_rel) != window_count_;
}

void Network::run_claims(std::size_t t) {
    // Its own partitions first, in order; then, once they are done, those of the others not yet
    // taken, from the end of their lists.
    for (std::uint32_t p : homes_[t]) {
        if (claim(p)) run_partition(p);
    }
    for (std::size_t k = 1; k < homes_.size(); ++k) {
        const auto& other = homes_[(t + k) % homes_.size()];
        for (auto it = other.rbegin(); it != other.rend(); ++it) {
            if (claim(*it)) run_partition(*it);
        }
    }
}

void Network::worker(std::size_t t) {
    std::uint64_t seen = 0;
    for (;;) {
        std::uint64_t gen = window_gen_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen; ++spin) {
            if (spin < kSpins) {
                cpu_relax();
            } else if (spin < kSpins + kYields) {
                std::this_thread::yield();
            } else {
                window_gen_.wait(seen, std::memory_order_acquire);
            }
            gen = window_gen_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stopping_.load(std::memory_order_acquire)) return;
        run_claims(t);
        workers_done_.fetch_add(1, std::memory_order_acq_rel);
    }
}

void Network::run_window(TimePoint end, bool inclusive) {
    window_end_ = end;
    window_inclusive_ = inclusive;
    ++window_count_;  // this window writes outboxes_[count % 2] and drains the other parity
    for (auto& p : parts_) p->crossing_min = TimePoint::max();
    if (homes_stale_) place_partitions();
    in_window_ = true;
    workers_done_.store(0, std::memory_order_relaxed);
    window_gen_.fetch_add(1, std::memory_order_acq_rel);
    window_gen_.notify_all();
    run_claims(0);
    const auto others = static_cast<unsigned>(workers_.size());
    for (int spin = 0; workers_done_.load(std::memory_order_acquire) != others;) {
        if (spin < kSpins) {
            cpu_relax();
            ++spin;
        } else {
            std::this_thread::yield();
        }
    }
    in_window_ = false;
    // The first thread's error (the network is not to be run again after one).
    std::exception_ptr error;
    for (auto& p : parts_) {
        if (p->error && !error) error = p->error;
        p->error = nullptr;
    }
    if (error) std::rethrow_exception(error);
}

void Network::run_deferred() {
    std::vector<Deferred> due;
    for (;;) {
        for (auto& p : parts_) {
            std::move(p->deferred.begin(), p->deferred.end(), std::back_inserter(due));
            p->deferred.clear();
        }
        if (due.empty()) return;
        std::sort(due.begin(), due.end(), [](const Deferred& a, const Deferred& b) {
            if (a.at != b.at) return a.at < b.at;
            return a.node != b.node ? a.node < b.node : a.count < b.count;
        });
        for (auto& d : due) d.f();  // may defer more (a callback run at once by with())
        due.clear();
    }
}

bool Network::run_windows(TimePoint until, const std::function<bool()>* pred) {
    run_deferred();  // what was deferred outside a run (a callback run at once by with())
    for (;;) {
        if (pred && (*pred)()) return true;
        const TimePoint first = earliest();
        if (first > until) break;
        const Duration w = window();  // a deferred call may have added a node nearer the rest
        // Nothing happens before `first`; what a node sends from then on arrives w later.
        const bool last = until - first < w;
        const TimePoint end = last ? until : first + w;
        run_window(end, last);
        set_now(std::max(now_, end));
        run_deferred();
    }
    if (until > now_) set_now(until);
    return pred && (*pred)();
}

}  // namespace kad::sim
