#include "kad/context_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace kad {

std::size_t run_one_polling(boost::asio::io_context& io, std::chrono::microseconds poll_for) {
    if (poll_for.count() > 0) {
        const auto until = std::chrono::steady_clock::now() + poll_for;
        do {
            // poll_one() also asks the reactor, without waiting, for sockets that are ready.
            if (const std::size_t n = io.poll_one()) return n;
            if (io.stopped()) return 0;
        } while (std::chrono::steady_clock::now() < until);
    }
    return io.run_one();
}

ContextPool::ContextPool(std::size_t threads, std::chrono::microseconds poll_for)
    : poll_for_(std::max(poll_for, std::chrono::microseconds(0))) {
    if (threads == 0) throw std::invalid_argument("a context pool needs at least one thread");
    contexts_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
        // Concurrency hint 1: one thread runs each context, so Asio may keep the handlers a
        // context's own thread posts in a queue of that thread's, without the lock.
        contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    }
}

ContextPool::~ContextPool() {
    try {
        join();
    } catch (...) {  // nobody left to tell: the owner did not join
    }
}

std::size_t ContextPool::default_threads() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return static_cast<std::size_t>(n);
    }
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? n : 1;
}

void ContextPool::start() {
    if (!threads_.empty() || !guards_.empty()) throw std::logic_error("the pool has started");
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
        guards_.emplace_back(contexts_[i]->get_executor());
    }
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
        threads_.emplace_back([this, &io = *contexts_[i]] {
            try {
                while (run_one_polling(io, poll_for_) > 0) {
                }
            } catch (...) {
                const std::lock_guard lock(error_mutex_);
                if (!error_) error_ = std::current_exception();
            }
        });
    }
}

void ContextPool::join() {
    for (auto& g : guards_) g.reset();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
    guards_.clear();
    const std::lock_guard lock(error_mutex_);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace kad
