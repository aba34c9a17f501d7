#pragma once
// kad::ContextPool: an io_context per thread, for a process that hosts many AsioNodes (kadswarm).
//
// Context 0 is the caller's: it runs it (run(), run_one()) on its own thread. Contexts 1 to N-1
// each get a thread of their own from start() until join(), kept running while idle. A node made
// on context(i) belongs to that context's thread: everything that touches it runs there (post to
// node.context()), and its results go back through the executor the caller binds to its handler.
//
//     kad::ContextPool pool(kad::ContextPool::default_threads());
//     ... AsioNodes on pool.context(i % pool.size()) ...
//     pool.start();
//     {
//         auto guard = boost::asio::make_work_guard(pool.context(0));
//         while (!done) pool.run_one();   // the caller's work, on context 0
//     }
//     ... post close() to each node's context ...
//     pool.join();             // the other threads finish their contexts' work and end

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kad {

// Runs one handler of `io`, like io.run_one(), but first polls for one for up to `poll_for`, so
// that work arriving meanwhile (a datagram from a node on another thread) is run without the
// thread going to sleep and being woken. Returns 0 once `io` is stopped or out of work.
std::size_t run_one_polling(boost::asio::io_context& io, std::chrono::microseconds poll_for);

class ContextPool {
public:
    // How long a thread polls for more work before it sleeps, by default. A datagram between two
    // nodes on different threads otherwise wakes the receiver's thread, which costs more than
    // the node's work on it (docs/ARCHITECTURE.md, "Many nodes on several threads"); a thread
    // polls only after work, so an idle pool sleeps.
    static constexpr std::chrono::microseconds kDefaultPoll{50};

    // threads >= 1 contexts (std::invalid_argument otherwise); no thread starts before start().
    explicit ContextPool(std::size_t threads, std::chrono::microseconds poll_for = kDefaultPoll);
    // Joins the threads (see join()).
    ~ContextPool();
    ContextPool(const ContextPool&) = delete;
    ContextPool& operator=(const ContextPool&) = delete;

    // The CPUs this process may run on (sched_getaffinity), at least 1.
    static std::size_t default_threads();

    std::size_t size() const noexcept { return contexts_.size(); }
    boost::asio::io_context& context(std::size_t i) { return *contexts_[i]; }
    std::chrono::microseconds poll_for() const noexcept { return poll_for_; }
    // For the caller's thread: runs one handler of context 0 (run_one_polling, with poll_for()).
    std::size_t run_one() { return run_one_polling(context(0), poll_for_); }

    // Starts a thread for each context but the first. Once only.
    void start();
    // Lets contexts 1 to N-1 run out of work (their threads' loops then end) and joins them.
    // Rethrows the first exception a handler threw on one of them (that thread stopped there).
    void join();

private:
    using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;

    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::chrono::microseconds poll_for_;
    std::vector<Guard> guards_;
    std::vector<std::thread> threads_;
    std::mutex error_mutex_;
    std::exception_ptr error_;  // guarded by error_mutex_
};

}  // namespace kad
