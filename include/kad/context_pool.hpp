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
//     pool.context(0).run();   // until the caller's work is done
//     ... post close() to each node's context ...
//     pool.join();             // the other threads finish their contexts' work and end

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kad {

class ContextPool {
public:
    // threads >= 1 contexts (std::invalid_argument otherwise); no thread starts before start().
    explicit ContextPool(std::size_t threads);
    // Joins the threads (see join()).
    ~ContextPool();
    ContextPool(const ContextPool&) = delete;
    ContextPool& operator=(const ContextPool&) = delete;

    // The CPUs this process may run on (sched_getaffinity), at least 1.
    static std::size_t default_threads();

    std::size_t size() const noexcept { return contexts_.size(); }
    boost::asio::io_context& context(std::size_t i) { return *contexts_[i]; }

    // Starts a thread for each context but the first. Once only.
    void start();
    // Lets contexts 1 to N-1 run out of work (their run() then returns) and joins their threads.
    // Rethrows the first exception a handler threw on one of them (that thread stopped there).
    void join();

private:
    using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;

    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::vector<Guard> guards_;
    std::vector<std::thread> threads_;
    std::mutex error_mutex_;
    std::exception_ptr error_;  // guarded by error_mutex_
};

}  // namespace kad
