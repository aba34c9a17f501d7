#pragma once
// --metrics: the node's counters for Prometheus, over HTTP (Boost.Beast), in the node's own
// io_context thread (so it reads the node's state without locks). GET /metrics answers the text
// exposition format; anything else 404 or 405. Bounded: 16 connections at once, 8 KiB of
// request, 5 s to send it; each connection serves one request.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace kadnode {

class MetricsServer {
public:
    using Body = std::function<std::string()>;
    // Listens on `at` (port 0: any free one). Throws boost::system::system_error if it cannot.
    MetricsServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at, Body body);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    boost::asio::ip::tcp::endpoint local_endpoint() const;
    std::uint64_t scrapes() const noexcept;
    void close();

    struct State;  // the listener and its connections share it (metrics_server.cpp)

private:
    std::shared_ptr<State> state_;
};

}  // namespace kadnode
