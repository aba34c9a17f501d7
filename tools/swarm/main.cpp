// kadswarm: N real nodes — real UDP sockets on 127.0.0.1, the production runtime — in one process,
// bootstrapped off each other. --bench runs a workload and prints one JSON object; --repl attaches
// kadnode's REPL to node 0, to play with a big network on a laptop.
//
// Threads (--threads): an io_context per thread (kad::ContextPool), node i on context i mod T,
// touched only by that context's thread. The driver — the workload, its random choices and its
// figures — lives on context 0, the main thread's, beside the nodes there: it posts each
// operation to its node's context and gets the result back on context 0 (the handler is bound
// to context 0's executor). Nodes talk to each other only through their sockets.

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "console.hpp"
#include "kad/context_pool.hpp"
#include "kad/runtime.hpp"
#include "shell.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::size_t nodes = 100;
    bool bench = false;
    std::size_t ops = 1000;
    std::size_t concurrency = 1;
    std::uint64_t seed = 1;
    bool repl = false;
    std::size_t threads = 0;  // 0: the CPUs this process may use
    long poll_us = kad::ContextPool::kDefaultPoll.count();
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

// Bytes of heap in use (glibc's count: what malloc handed out and was not freed).
std::size_t heap_bytes() {
    return ::mallinfo2().uordblks;
}

// Resident anonymous memory (heap, stacks): not the program's code and libraries, whose pages are
// read in once, whatever the number of nodes.
long rss_kb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
    }
    return 0;
}

double cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds of each of the process's threads, by thread ID (/proc/self/task/*/stat: utime and
// stime, in clock ticks).
std::map<long, double> thread_cpu_s() {
    std::map<long, double> out;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream f(e.path() / "stat");
        std::string stat;
        std::getline(f, stat);
        // Fields after the command (in parentheses, which may hold spaces): state is field 3,
        // utime 14 and stime 15.
        std::istringstream rest(stat.substr(stat.rfind(')') + 2));
        std::string field;
        double ticks = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {
            if (i >= 14) ticks += std::stod(field);
        }
        out[std::stol(e.path().filename().string())] = ticks / tick;
    }
    return out;
}

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Runs `count` operations with at most `window` in flight; start(i, done) starts operation i and
// calls done() when it ends, on context 0's thread. Returns when all have ended (runs context 0
// meanwhile; the guard keeps it waiting while the operations run on other threads).
void run_window(kad::ContextPool& pool, std::size_t count, std::size_t window,
                const std::function<void(std::size_t, std::function<void()>)>& start) {
    const auto guard = asio::make_work_guard(pool.context(0));
    std::size_t next = 0, running = 0, finished = 0;
    std::function<void()> fill = [&] {
        while (running < window && next < count) {
            ++running;
            start(next++, [&] {
                --running;
                ++finished;
                fill();
            });
        }
    };
    fill();
    while (finished < count) {
        pool.run_one();
    }
}

class Swarm {
public:
    Swarm(kad::ContextPool& pool, const Options& o)
        : pool_(pool), io_(pool.context(0)), o_(o), rng_(o.seed) {}
    ~Swarm() {
        try {
            shutdown();
        } catch (...) {  // a handler's exception, already past: the nodes go anyway
        }
    }
    Swarm(const Swarm&) = delete;
    Swarm& operator=(const Swarm&) = delete;

    // Runs f(node) on node i's thread.
    template <class F>
    void on_node(std::size_t i, F f) {
        kad::AsioNode& n = *nodes_[i];
        asio::post(n.context(), [&n, f = std::move(f)]() mutable { f(n); });
    }

    // A completion handler that runs on the driver's thread (context 0).
    template <class H>
    auto here(H h) {
        return asio::bind_executor(io_, std::move(h));
    }

    // Creates the nodes and joins each through a random node that has joined already.
    double bootstrap() {
        kad::RuntimeConfig config;
        config.bind = *kad::Endpoint::parse("127.0.0.1:0");
        // On loopback every node reaches every other: a second port would only double the
        // sockets of a process holding thousands of nodes.
        config.probe_port = false;
        // One process hosts every node on 127.0.0.1: each is a separate source for the rate
        // limiter (loopback is counted per port), and the global budget is per node.
        rss_before_ = rss_kb();
        heap_before_ = heap_bytes();
        // Made here before the other threads start (ContextPool::start): each node's address
        // and ID are kept for the driver, which must not read them from a node that runs.
        for (std::size_t i = 0; i < o_.nodes; ++i) {
            config.id = kad::NodeId::random(rng_);
            nodes_.push_back(
                std::make_unique<kad::AsioNode>(pool_.context(i % pool_.size()), config));
            peers_.push_back({nodes_.back()->local_endpoint(), *config.id});
        }
        pool_.start();
        const auto t0 = Clock::now();
        std::vector<std::size_t> joined = {0};
        failed_joins_ = 0;
        // 32 joins at a time: each through a node that has joined already.
        run_window(pool_, o_.nodes - 1, 32, [&](std::size_t i, const std::function<void()>& done) {
            const std::size_t me = i + 1;
            const std::size_t via = joined[rng_.uniform(joined.size())];
            auto joined_one = here([&, me, done](const kad::BootstrapResult& r) {
                if (r.ok) {
                    joined.push_back(me);
                } else {
                    ++failed_joins_;
                }
                done();
            });
            on_node(me, [peer = peers_[via], joined_one](kad::AsioNode& n) mutable {
                n.async_bootstrap({peer}, std::move(joined_one));
            });
        });
        const double s = ms_since(t0) / 1000;
        // Hand back to the system the pages the joins' lookups used and freed: what stays is
        // what the nodes hold (glibc returns freed heap only from its top by itself).
        ::malloc_trim(0);
        rss_after_ = rss_kb();
        heap_after_ = heap_bytes();
        return s;
    }

    void bench() {
        const double boot_s = bootstrap();
        const double cpu0 = cpu_s();
        const auto threads0 = thread_cpu_s();
        std::vector<double> put_ms, get_ms, hops, queries, put_rpcs;
        std::size_t put_ok = 0, get_ok = 0;
        std::vector<std::size_t> putter(o_.ops);
        const auto tp = Clock::now();
        run_window(
            pool_, o_.ops, o_.concurrency, [&](std::size_t i, const std::function<void()>& done) {
                putter[i] = rng_.uniform(nodes_.size());
                const auto t = Clock::now();
                auto put_done = here([&, t, done](const kad::PutResult& r) {
                    put_ms.push_back(ms_since(t));
                    put_ok += r.ok && r.stored > 0;
                    // The lookup's queries, then one store a node.
                    put_rpcs.push_back(
                        static_cast<double>(r.queries + r.stored + r.refused + r.failed));
                    done();
                });
                on_node(putter[i], [i, put_done](kad::AsioNode& n) mutable {
                    n.async_put(key(i), "value " + std::to_string(i), {}, std::move(put_done));
                });
            });
        const double put_s = ms_since(tp) / 1000;
        const auto tg = Clock::now();
        run_window(pool_, o_.ops, o_.concurrency,
                   [&](std::size_t i, const std::function<void()>& done) {
                       std::size_t from = rng_.uniform(nodes_.size());
                       if (from == putter[i]) from = (from + 1) % nodes_.size();
                       const auto t = Clock::now();
                       const std::string expect = "value " + std::to_string(i);
                       auto got = here([&, t, done, expect](const kad::GetResult& r) {
                           get_ms.push_back(ms_since(t));
                           if (r.ok && r.item && r.item->value == expect) {
                               ++get_ok;
                               hops.push_back(r.hops);
                               queries.push_back(static_cast<double>(r.queries));
                           }
                           done();
                       });
                       on_node(from, [i, got](kad::AsioNode& n) mutable {
                           n.async_get(key(i), std::move(got));
                       });
                   });
        const double get_s = ms_since(tg) / 1000;
        const double ops = static_cast<double>(o_.ops);
        // How the puts' and gets' CPU time fell on the threads (thread 0, the driver's, first).
        std::string per_thread;
        for (const auto& [tid, s] : thread_cpu_s()) {
            const auto before = threads0.find(tid);
            per_thread += (per_thread.empty() ? "" : ",") +
                          std::to_string(s - (before == threads0.end() ? 0 : before->second));
        }
        std::printf(
            "{\"nodes\":%zu,\"joined\":%zu,\"bootstrap_s\":%.3f,\"ops\":%zu,\"concurrency\":%zu,"
            "\"put_p50_ms\":%.3f,\"put_p99_ms\":%.3f,\"get_p50_ms\":%.3f,\"get_p99_ms\":%.3f,"
            "\"put_ops_s\":%.1f,\"get_ops_s\":%.1f,\"success_rate\":%.4f,\"put_success_rate\":%.4f,"
            "\"hops_p50\":%.1f,\"queries_p50\":%.1f,\"put_rpcs_p50\":%.1f,\"rss_kb_per_node\":%.1f,"
            "\"heap_kb_per_node\":%.1f,\"cpu_s\":%.3f,"
            "\"threads\":%zu,\"poll_us\":%lld,\"thread_cpu_s\":[%s],\"seed\":%llu}\n",
            nodes_.size(), nodes_.size() - failed_joins_, boot_s, o_.ops, o_.concurrency,
            percentile(put_ms, 50), percentile(put_ms, 99), percentile(get_ms, 50),
            percentile(get_ms, 99), ops / put_s, ops / get_s, static_cast<double>(get_ok) / ops,
            static_cast<double>(put_ok) / ops, percentile(hops, 50), percentile(queries, 50),
            percentile(put_rpcs, 50),
            static_cast<double>(rss_after_ - rss_before_) / static_cast<double>(nodes_.size()),
            (static_cast<double>(heap_after_) - static_cast<double>(heap_before_)) / 1024.0 /
                static_cast<double>(nodes_.size()),
            cpu_s() - cpu0, pool_.size(), static_cast<long long>(pool_.poll_for().count()),
            per_thread.c_str(), static_cast<unsigned long long>(o_.seed));
    }

    // Node 0 runs on the driver's thread: the REPL uses it directly.
    kad::AsioNode& node0() { return *nodes_[0]; }
    const kad::BootstrapPeer& peer(std::size_t i) const { return peers_[i]; }
    std::size_t size() const { return nodes_.size(); }
    std::size_t failed_joins() const { return failed_joins_; }
    // Closes every node on its own thread; then the contexts run out of work.
    void close() {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            on_node(i, [](kad::AsioNode& n) { n.close(); });
        }
    }
    // Closes every node, runs context 0 and joins the other threads until all is done: the
    // nodes may then be destroyed here. Rethrows what a handler on another thread threw.
    void shutdown() {
        if (shut_) return;
        shut_ = true;
        close();
        io_.restart();
        io_.run();
        pool_.join();
    }

private:
    static std::string key(std::size_t i) { return "kadswarm-key-" + std::to_string(i); }

    kad::ContextPool& pool_;
    asio::io_context& io_;  // the driver's: context 0
    Options o_;
    kad::SeededRandom rng_;
    std::vector<std::unique_ptr<kad::AsioNode>> nodes_;
    std::vector<kad::BootstrapPeer> peers_;  // each node's address and ID
    bool shut_ = false;
    std::size_t failed_joins_ = 0;
    long rss_before_ = 0, rss_after_ = 0;
    std::size_t heap_before_ = 0, heap_after_ = 0;
};

// The REPL on node 0: a terminal (readline), or command lines on stdin.
class Repl {
public:
    Repl(asio::io_context& io, Swarm& swarm)
        : io_(io),
          swarm_(swarm),
          shell_(swarm.node0(), kad::Clock::now(), "kad"),
          signals_(io, SIGINT, SIGTERM) {
        signals_.async_wait([this](const boost::system::error_code& ec, int) {
            if (!ec) quit();
        });
        shell_.set_output([this](const kadnode::Reply& r) { show(r); });
        // A watch runs beside later commands (as in kadnode's scripts), its versions printed as
        // they come, until unwatch.
        shell_.set_events([this](const std::string&, const nlohmann::ordered_json&,
                                 const std::string& text) { show_line(text); });
        if (::isatty(STDIN_FILENO)) {
            const char* home = std::getenv("HOME");
            console_ = std::make_unique<kadnode::Console>(
                io_, "kadswarm " + swarm.peer(0).id->short_hex() + "> ",
                home ? std::string(home) + "/.kadnode_history" : std::string(),
                [this](std::optional<std::string> line) {
                    if (!line) return quit();
                    run(*line);
                });
            console_->resume();
        } else {
            in_ = std::make_unique<asio::posix::stream_descriptor>(io_, ::dup(STDIN_FILENO));
            read_line();
        }
    }

private:
    void run(const std::string& line) {
        shell_.run(line, [this](const kadnode::Reply& r) {
            if (!r.blank) show(r);
            if (r.quit) return quit();
            if (console_) {
                console_->resume();
            } else {
                read_line();
            }
        });
    }

    void show(const kadnode::Reply& r) {
        const std::string text = kadnode::render(r, false);
        if (text.empty()) return;
        if (console_ && !r.ok) return console_->print_error(text);
        show_line(text);
    }

    void show_line(const std::string& text) {
        if (console_) {
            console_->print(text);
        } else {
            std::printf("%s\n", text.c_str());
            std::fflush(stdout);
        }
    }

    void read_line() {
        asio::async_read_until(*in_, buf_, '\n',
                               [this](const boost::system::error_code& ec, std::size_t) {
                                   if (ec) return quit();
                                   std::istream is(&buf_);
                                   std::string line;
                                   std::getline(is, line);
                                   run(line);
                               });
    }

    void quit() {
        if (done_) return;
        done_ = true;
        if (console_) console_->stop();
        if (in_) in_->close();
        signals_.cancel();
        swarm_.close();
    }

    asio::io_context& io_;
    Swarm& swarm_;
    kadnode::Shell shell_;
    asio::signal_set signals_;
    std::unique_ptr<kadnode::Console> console_;
    std::unique_ptr<asio::posix::stream_descriptor> in_;
    asio::streambuf buf_;
    bool done_ = false;
};

void raise_fd_limit(std::size_t nodes) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    const rlim_t want = std::min<rlim_t>(rl.rlim_max, nodes + 256);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    po::options_description desc(
        "kadswarm: N kadnode nodes on 127.0.0.1 in one process (real sockets, an io_context a "
        "thread)");
    desc.add_options()("help,h", "print this help and exit")(
        "nodes", po::value(&o.nodes)->default_value(o.nodes), "how many nodes (2 to 100000)")(
        "bench", po::bool_switch(&o.bench), "run the workload and print one JSON object")(
        "ops", po::value(&o.ops)->default_value(o.ops),
        "--bench: puts of distinct keys, then gets of them from other nodes")(
        "concurrency", po::value(&o.concurrency)->default_value(o.concurrency),
        "--bench: operations in flight (1: one at a time)")(
        "seed", po::value(&o.seed)->default_value(o.seed), "node IDs and workload choices")(
        "repl", po::bool_switch(&o.repl), "attach kadnode's REPL to node 0")(
        "threads", po::value(&o.threads),
        "threads the nodes run on, each node on one (default: the CPUs this process may use)")(
        "poll-us", po::value(&o.poll_us)->default_value(o.poll_us),
        "microseconds a thread polls for more work before it sleeps (0: sleeps at once)");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
        if (o.nodes < 2 || o.nodes > 100000) throw po::error("--nodes: from 2 to 100000");
        if (o.ops == 0 || o.concurrency == 0)
            throw po::error("--ops and --concurrency: at least 1");
        if (o.bench == o.repl) throw po::error("give one of --bench and --repl");
        if (vm.count("threads") && (o.threads < 1 || o.threads > 1024))
            throw po::error("--threads: from 1 to 1024");
        if (o.poll_us < 0 || o.poll_us > 1'000'000) throw po::error("--poll-us: from 0 to 1000000");
    } catch (const po::error& e) {
        std::cerr << "kadswarm: " << e.what() << " (see kadswarm --help)\n";
        return 2;
    }
    raise_fd_limit(o.nodes);
    if (o.threads == 0) o.threads = kad::ContextPool::default_threads();
    // The pool outlives the swarm: the nodes are destroyed once its threads have ended.
    kad::ContextPool pool(std::min(o.threads, o.nodes), std::chrono::microseconds(o.poll_us));
    asio::io_context& io = pool.context(0);
    Swarm swarm(pool, o);
    try {
        if (o.bench) {
            swarm.bench();
            swarm.shutdown();
            return 0;
        }
        std::fprintf(stderr, "kadswarm: starting %zu nodes on 127.0.0.1...\n", o.nodes);
        const double s = swarm.bootstrap();
        std::fprintf(stderr,
                     "kadswarm: %zu nodes joined in %.1f s (%zu failed); node 0 is %s at %s\n",
                     swarm.size() - swarm.failed_joins(), s, swarm.failed_joins(),
                     swarm.node0().id().to_hex().c_str(),
                     swarm.node0().local_endpoint().to_string().c_str());
        Repl repl(io, swarm);
        io.run();
        swarm.shutdown();
    } catch (const std::exception& e) {
        std::cerr << "kadswarm: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
