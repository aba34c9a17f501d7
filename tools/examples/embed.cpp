// Embedding kadnode: two nodes in one process on 127.0.0.1. Shows the three kinds of completion
// token the asynchronous API takes: use_future, use_awaitable (a C++20 coroutine) and a plain
// callback. Exits 0 when node B joined through A and each saw the other's value.

#include <utility>  // before Boost 1.74 asio/awaitable.hpp, which uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <thread>

#include "kad/runtime.hpp"

namespace asio = boost::asio;

int main() {
    asio::io_context io;
    kad::RuntimeConfig config;
    config.bind = *kad::Endpoint::parse("127.0.0.1:0");
    kad::AsioNode a(io, config);
    kad::AsioNode b(io, config);
    std::printf("A %s at %s\nB %s at %s\n", a.id().to_hex().c_str(),
                a.local_endpoint().to_string().c_str(), b.id().to_hex().c_str(),
                b.local_endpoint().to_string().c_str());

    // use_future: start before the io_context runs on its thread, then wait here.
    auto joined = b.async_bootstrap({{a.local_endpoint(), a.id()}}, asio::use_future);
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });

    const kad::BootstrapResult j = joined.get();
    std::printf("B joined: %s (%zu contacts)\n", j.ok ? "yes" : j.error.c_str(), j.contacts);
    bool ok = j.ok;

    // use_awaitable: a coroutine on the io_context's thread, which owns both nodes.
    auto done = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<bool> {
            const auto put =
                co_await b.async_put("greeting", "hello from B", {}, asio::use_awaitable);
            std::printf("B put greeting: stored on %zu node(s)\n", put.stored);
            const auto got = co_await a.async_get("greeting", asio::use_awaitable);
            std::printf("A got greeting: %s\n",
                        got.ok ? got.item->value.c_str() : got.error.c_str());

            // A plain callback: A pings B.
            a.async_ping(b.local_endpoint(), b.id(), [](const kad::PingResult& r) {
                std::printf("A pinged B: %s, %.3f ms\n", r.ok ? "pong" : r.error.c_str(),
                            kad::to_ms(r.rtt));
            });
            co_return put.ok&& got.ok&& got.item->value == "hello from B";
        },
        asio::use_future);
    ok = done.get() && ok;

    asio::post(io, [&] {
        a.close();
        b.close();
    });
    work.reset();
    runner.join();
    std::printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
