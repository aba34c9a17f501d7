// The Boost.Asio runtime, on 127.0.0.1.

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "helpers.hpp"
#include "kad/context_pool.hpp"
#include "kad/runtime.hpp"

using namespace kad;
using namespace std::chrono_literals;

namespace {

// Datagrams dropped from the CPUs' input backlogs, the whole system's (/proc/net/softnet_stat,
// its second column, in hex): on loopback a datagram may be lost there before a socket sees it.
std::uint64_t backlog_drops() {
    std::ifstream f("/proc/net/softnet_stat");
    std::uint64_t sum = 0;
    for (std::string line; std::getline(f, line);) {
        std::istringstream fields(line);
        std::string processed, dropped;
        if (fields >> processed >> dropped) sum += std::stoull(dropped, nullptr, 16);
    }
    return sum;
}

// One-byte datagrams (malformed: never answered) to a node, from a socket of their own.
class Flooder {
public:
    Flooder(boost::asio::io_context& io, const AsioNode& node)
        : socket_(io, {boost::asio::ip::make_address("127.0.0.1"), 0}),
          to_(to_asio(node.local_endpoint())) {}
    void send(std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) socket_.send_to(boost::asio::buffer("x", 1), to_);
    }

private:
    boost::asio::ip::udp::socket socket_;
    boost::asio::ip::udp::endpoint to_;
};

RuntimeConfig loopback() {
    RuntimeConfig c;
    c.bind = *Endpoint::parse("127.0.0.1:0");
    return c;
}

}  // namespace

TEST_CASE("a completion is never invoked inside the call that starts it", "[runtime]") {
    boost::asio::io_context io;
    AsioNode node(io, loopback());
    bool done = false;
    PingResult result;
    node.async_ping(*Endpoint::parse("0.0.0.0:1"), std::nullopt, [&](const PingResult& r) {
        done = true;
        result = r;
    });
    CHECK_FALSE(done);  // it failed at once, but the handler waits for the io_context
    io.run_for(100ms);
    CHECK(done);
    CHECK_FALSE(result.ok);
    CHECK(result.error == "cannot send to 0.0.0.0:1");
}

TEST_CASE("two nodes on one io_context ping and store", "[runtime]") {
    boost::asio::io_context io;
    AsioNode a(io, loopback());
    AsioNode b(io, loopback());
    std::optional<BootstrapResult> joined;
    b.async_bootstrap({{a.local_endpoint(), a.id()}},
                      [&](const BootstrapResult& r) { joined = r; });
    io.run_for(1s);
    REQUIRE(joined);
    CHECK(joined->ok);
    std::optional<PutResult> put;
    b.async_put("k", "v", {}, [&](const PutResult& r) { put = r; });
    io.restart();
    io.run_for(1s);
    REQUIRE(put);
    CHECK(put->stored == 1);
    CHECK(a.node().storage().size() == 1);
}

TEST_CASE("a node destroyed while its io_context runs on leaves nothing behind", "[runtime]") {
    boost::asio::io_context io;
    auto a = std::make_unique<AsioNode>(io, loopback());
    AsioNode b(io, loopback());
    std::optional<PingResult> ping;
    b.async_ping(a->local_endpoint(), a->id(), [&](const PingResult& r) { ping = r; });
    io.run_for(200ms);
    REQUIRE(ping);
    CHECK(ping->ok);
    const Endpoint gone = a->local_endpoint();
    a.reset();  // its receive and timer completions are still queued
    ping.reset();
    b.async_ping(gone, std::nullopt, [&](const PingResult& r) { ping = r; });
    io.restart();
    io.run_for(2500ms);  // AddressSanitizer would report a use after free here
    REQUIRE(ping);
    CHECK_FALSE(ping->ok);
}

TEST_CASE("after close, operations complete with 'closed'", "[runtime]") {
    boost::asio::io_context io;
    AsioNode node(io, loopback());
    node.close();
    std::optional<GetResult> got;
    node.async_get("k", [&](const GetResult& r) { got = r; });
    io.run_for(100ms);
    REQUIRE(got);
    CHECK(got->error == "closed");
}

TEST_CASE("a CancelSignal cancels what was started in its scope, and nothing else", "[runtime]") {
    boost::asio::io_context io;
    AsioNode node(io, loopback());
    const Endpoint nowhere = *Endpoint::parse("127.0.0.1:9");  // no one answers there
    CancelSignal signal;
    std::optional<PingResult> in_scope, outside;
    {
        AsioNode::CancelScope scope(node, signal);
        node.async_ping(nowhere, std::nullopt, [&](const PingResult& r) { in_scope = r; });
    }
    node.async_ping(nowhere, std::nullopt, [&](const PingResult& r) { outside = r; });
    io.run_for(50ms);
    CHECK_FALSE(in_scope);
    signal.emit();
    CHECK_FALSE(in_scope);  // through the io_context, never inside emit()
    io.restart();
    io.run_for(50ms);
    REQUIRE(in_scope);
    CHECK(in_scope->code == Failure::Cancelled);
    CHECK_FALSE(outside);  // still waiting for its timeout
    signal.emit();         // empty now: nothing happens
    io.restart();
    io.run_for(50ms);
    CHECK_FALSE(outside);
}

TEST_CASE("a node's queries want the address families its socket reaches (BEP 32)", "[runtime]") {
    struct Case {
        const char* bind;
        const char* listener;  // where a plain socket waits for the node's find_node
        krpc::Want want;
    };
    const Case c = GENERATE(Case{"127.0.0.1:0", "127.0.0.1", {.v4 = true, .v6 = false}},
                            Case{"[::1]:0", "::1", {.v4 = false, .v6 = true}},
                            Case{"[::]:0", "::1", {.v4 = true, .v6 = true}});
    INFO(c.bind);
    boost::asio::io_context io;
    RuntimeConfig config;
    config.bind = *Endpoint::parse(c.bind);
    AsioNode node(io, config);
    namespace ip = boost::asio::ip;
    ip::udp::socket listener(io, ip::udp::endpoint(ip::make_address(c.listener), 0));
    const auto at = listener.local_endpoint();
    const std::string to =
        at.address().is_v6() ? "[" + at.address().to_string() + "]" : at.address().to_string();
    node.async_find_node(*Endpoint::parse(to + ":" + std::to_string(at.port())), std::nullopt,
                         test::id_from(5), [](const FindNodeResult&) {});
    std::array<char, 1500> buf{};
    ip::udp::endpoint from;
    std::size_t n = 0;
    listener.async_receive_from(boost::asio::buffer(buf), from,
                                [&](boost::system::error_code, std::size_t got) { n = got; });
    io.run_for(1s);
    REQUIRE(n > 0);
    const auto m = krpc::decode(std::string_view(buf.data(), n));
    REQUIRE(m);
    const auto& args = std::get<krpc::FindNodeArgs>(std::get<krpc::Query>(m->body).args);
    REQUIRE(args.want);
    CHECK(*args.want == c.want);
    // What it does not want, it cannot reach: said before anything is sent.
    if (!c.want.v4) {
        std::optional<PingResult> ping;
        node.async_ping(*Endpoint::parse("127.0.0.1:9"), std::nullopt,
                        [&](const PingResult& r) { ping = r; });
        io.restart();
        io.run_for(100ms);
        REQUIRE(ping);
        CHECK(ping->error == "cannot reach 127.0.0.1:9 from this socket");
    }
}

TEST_CASE("a node verifies a node that queried it from its second port, read-only", "[runtime]") {
    const bool second_port = GENERATE(true, false);
    INFO("probe_port " << second_port);
    boost::asio::io_context io;
    RuntimeConfig config = loopback();
    config.probe_port = second_port;
    AsioNode node(io, config);
    REQUIRE(node.probe_endpoint().has_value() == second_port);
    if (second_port) CHECK(node.probe_endpoint()->port() != node.local_endpoint().port());
    namespace ip = boost::asio::ip;
    ip::udp::socket peer(io, ip::udp::endpoint(ip::make_address("127.0.0.1"), 0));
    const NodeId peer_id = test::id_from(77);
    const std::string query = test::encode_query("aa", peer_id, krpc::PingArgs{});
    peer.send_to(boost::asio::buffer(query), to_asio(node.local_endpoint()));

    // The answer to its ping, then the node's own ping to verify it.
    std::array<char, 1500> buf{};
    ip::udp::endpoint from;
    std::optional<krpc::Message> ping;
    Endpoint ping_from;
    std::function<void()> next = [&] {
        peer.async_receive_from(boost::asio::buffer(buf), from,
                                [&](boost::system::error_code ec, std::size_t n) {
                                    if (ec) return;
                                    auto m = krpc::decode(std::string_view(buf.data(), n));
                                    if (m && std::holds_alternative<krpc::Query>(m->body)) {
                                        ping = *m;
                                        ping_from = from_asio(from);
                                        return;
                                    }
                                    next();
                                });
    };
    next();
    io.run_for(1s);
    REQUIRE(ping);
    CHECK(std::get<krpc::Query>(ping->body).method() == krpc::Method::Ping);
    CHECK(ping->read_only == second_port);
    CHECK(ping_from == (second_port ? *node.probe_endpoint() : node.local_endpoint()));
    CHECK(node.node().stats().reach_probes == (second_port ? 1U : 0U));

    // Answered where it came from, it brings the peer into the routing table.
    const std::string answer =
        test::encode_response(ping->transaction, krpc::Response{.id = peer_id});
    peer.send_to(boost::asio::buffer(answer), to_asio(ping_from));
    io.restart();
    io.run_for(200ms);
    CHECK(node.node().routing_table().contains(peer_id));
}

TEST_CASE("datagrams the system drops while the node falls behind are counted", "[runtime]") {
    boost::asio::io_context io;
    AsioNode node(io, loopback());
    CHECK(node.runtime_stats().receive_overflows == 0);
    Flooder flooder(io, node);
    // Sent while the io_context does not run: more one-byte datagrams than the node's receive
    // queue holds (about 10,000 in the 4 MiB it asks for), so the system drops the rest.
    constexpr std::uint64_t kSent = 60'000;
    const std::uint64_t backlog_before = backlog_drops();
    flooder.send(kSent);
    const std::uint64_t backlog = backlog_drops() - backlog_before;
    // The node reads what was queued, until nothing more comes.
    std::uint64_t read = 0;
    do {
        read = node.node().stats().packets_in;
        io.restart();
        io.run_for(100ms);
    } while (node.node().stats().packets_in != read);
    const RuntimeStats rs = node.runtime_stats();
    INFO("read " << read << ", dropped at the socket " << rs.receive_overflows
                 << ", dropped before it (the CPUs' backlogs, the whole system's) " << backlog);
    CHECK(read > 0);
    CHECK(rs.receive_overflows > 0);
    // Each one read, counted as dropped at the socket, or lost before it reached the socket.
    CHECK(read + rs.receive_overflows <= kSent);
    CHECK(read + rs.receive_overflows + backlog >= kSent);
    CHECK(node.runtime_stats().receive_overflows == rs.receive_overflows);  // asked again
}

TEST_CASE("a node that falls behind says so in its log, at most once a period", "[runtime]") {
    boost::asio::io_context io;
    RuntimeConfig config = loopback();
    config.overflow_warning_every = 3s;
    AsioNode node(io, config);
    std::vector<std::string> warnings;
    node.set_logger(Logger(LogLevel::Warn, [&](LogLevel l, std::string_view m) {
        if (l == LogLevel::Warn) warnings.emplace_back(m);
    }));
    Flooder flooder(io, node);  // sends while the io_context does not run
    const auto run = [&](auto how_long) {
        io.restart();
        io.run_for(how_long);
    };
    const std::string why =
        ": the receive queue was full, the node fell behind (a busy CPU, or a flood; "
        "receive_overflows in stats)";

    flooder.send(60'000);  // past what the queue holds
    run(1100ms);           // the node reads the queue, and its first look finds the drops
    const std::uint64_t first = node.runtime_stats().receive_overflows;
    REQUIRE(first > 0);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == std::to_string(first) + " datagrams dropped by the system so far" + why);

    // More, over a second after that look but within the period: counted, not said.
    flooder.send(60'000);
    run(1100ms);
    const std::uint64_t second = node.runtime_stats().receive_overflows;
    CHECK(second > first);
    CHECK(warnings.size() == 1);

    // Past the period, the next datagram brings the warning of what was dropped since.
    run(1s);
    flooder.send(1);
    run(200ms);
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[1] == std::to_string(second - first) +
                             " datagrams dropped by the system since the last "
                             "warning" +
                             why);
}

TEST_CASE("a context pool has at least one context and one CPU", "[runtime][threads]") {
    CHECK(ContextPool::default_threads() >= 1);
    CHECK_THROWS_AS(ContextPool(0), std::invalid_argument);
    ContextPool one(1);
    CHECK(one.size() == 1);
    one.start();  // no thread of its own: context 0 is the caller's
    one.join();
}

TEST_CASE("run_one_polling runs one handler, waits past its poll, stops when out of work",
          "[runtime][threads]") {
    boost::asio::io_context io(1);
    int ran = 0;
    boost::asio::post(io, [&] { ++ran; });
    boost::asio::post(io, [&] { ++ran; });
    CHECK(kad::run_one_polling(io, 50us) == 1);
    CHECK(ran == 1);
    CHECK(kad::run_one_polling(io, 0us) == 1);
    CHECK(ran == 2);
    // Work that comes after the poll: it waits for it, as run_one() would. (The context ran out
    // of work above, which stopped it.)
    io.restart();
    boost::asio::steady_timer timer(io, 20ms);
    timer.async_wait([&](auto) { ++ran; });
    CHECK(kad::run_one_polling(io, 1ms) == 1);
    CHECK(ran == 3);
    // Out of work: 0, the context stopped, as run_one() would.
    CHECK(kad::run_one_polling(io, 50us) == 0);
    CHECK(io.stopped());
}

TEST_CASE("run_one_polling runs a handler another thread posts", "[runtime][threads]") {
    boost::asio::io_context io(1);
    const auto guard = boost::asio::make_work_guard(io);
    std::atomic<bool> ran = false;
    std::thread other([&] { boost::asio::post(io, [&] { ran = true; }); });
    CHECK(kad::run_one_polling(io, 2s) == 1);
    CHECK(ran);
    other.join();
}

// kadswarm's pattern: each node touched only by its context's thread, the results handed back to
// the caller's thread (context 0) through the handler's executor. Built for ThreadSanitizer
// (build-tsan in tools/test): a node touched from the wrong thread is a race it reports.
TEST_CASE("nodes on two threads join, put and get through each other", "[runtime][threads]") {
    ContextPool pool(2);
    auto& io = pool.context(0);
    std::vector<std::unique_ptr<AsioNode>> nodes;
    std::vector<BootstrapPeer> peers;
    for (std::size_t i = 0; i < 8; ++i) {
        auto config = loopback();
        config.probe_port = false;
        nodes.push_back(std::make_unique<AsioNode>(pool.context(i % 2), config));
        peers.push_back({nodes.back()->local_endpoint(), nodes.back()->id()});
    }
    pool.start();
    const auto caller = std::this_thread::get_id();
    const auto on = [&](std::size_t i, auto f) {
        AsioNode& n = *nodes[i];
        boost::asio::post(n.context(), [&n, f]() mutable { f(n); });
    };
    const auto here = [&](auto h) { return boost::asio::bind_executor(io, h); };
    const auto run_until = [&](auto done) {
        const auto guard = boost::asio::make_work_guard(io);
        while (!done()) pool.run_one();
    };
    bool off_thread = false;  // a completion ran on another thread than the caller's

    std::size_t joined = 0, ended = 0;
    for (std::size_t i = 1; i < nodes.size(); ++i) {
        auto cb = here([&](const BootstrapResult& r) {
            off_thread |= std::this_thread::get_id() != caller;
            joined += r.ok;
            ++ended;
        });
        on(i, [peer = peers[0], cb](AsioNode& n) { n.async_bootstrap({peer}, cb); });
    }
    run_until([&] { return ended == nodes.size() - 1; });
    CHECK(joined == nodes.size() - 1);

    std::optional<PutResult> put;
    on(1, [cb = here([&](const PutResult& r) { put = r; })](AsioNode& n) {
        n.async_put("k", "v", {}, cb);
    });
    run_until([&] { return put.has_value(); });
    CHECK(put->ok);
    CHECK(put->stored == nodes.size() - 1);

    std::vector<GetResult> gets;
    for (std::size_t i : {2, 3, 6, 7}) {  // both threads
        auto cb = here([&](const GetResult& r) {
            off_thread |= std::this_thread::get_id() != caller;
            gets.push_back(r);
        });
        on(i, [cb](AsioNode& n) { n.async_get("k", cb); });
    }
    run_until([&] { return gets.size() == 4; });
    for (const auto& g : gets) {
        CHECK(g.ok);
        REQUIRE(g.item);
        CHECK(g.item->value == "v");
    }
    CHECK_FALSE(off_thread);

    for (std::size_t i = 0; i < nodes.size(); ++i) on(i, [](AsioNode& n) { n.close(); });
    io.run();  // context 0 runs out of work once its nodes are closed
    pool.join();
    for (const auto& n : nodes) CHECK(n->closed());
}
