#include "metrics_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace kadnode {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kMaxConnections = 16;
constexpr std::size_t kMaxRequest = 8 * 1024;
constexpr auto kRequestTime = std::chrono::seconds(5);
}  // namespace

struct MetricsServer::State : std::enable_shared_from_this<MetricsServer::State> {
    State(asio::io_context& io, const tcp::endpoint& at, Body b)
        : acceptor(io, at), body(std::move(b)) {}

    tcp::acceptor acceptor;
    Body body;
    std::size_t open = 0;
    std::uint64_t scrapes = 0;
    bool closed = false;

    void accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, std::shared_ptr<MetricsServer::State> server)
        : stream_(std::move(socket)), server_(std::move(server)) {
        ++server_->open;
    }
    ~Session() { --server_->open; }

    void start() {
        parser_.header_limit(kMaxRequest);
        parser_.body_limit(kMaxRequest);
        stream_.expires_after(kRequestTime);
        http::async_read(stream_, buffer_, parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (!ec) self->answer();
                         });
    }

private:
    void answer() {
        const auto& req = parser_.get();
        auto res = std::make_shared<http::response<http::string_body>>();
        res->version(req.version());
        res->keep_alive(false);
        res->set(http::field::server, "kadnode");
        const auto target = req.target();
        const bool metrics = target == "/metrics" || target.starts_with("/metrics?");
        if (!metrics) {
            res->result(http::status::not_found);
            res->set(http::field::content_type, "text/plain");
            res->body() = "not found: the counters are at /metrics\n";
        } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
            res->result(http::status::method_not_allowed);
            res->set(http::field::allow, "GET, HEAD");
            res->set(http::field::content_type, "text/plain");
            res->body() = "GET only\n";
        } else {
            ++server_->scrapes;
            res->result(http::status::ok);
            res->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            if (req.method() == http::verb::get && server_->body) res->body() = server_->body();
        }
        res->prepare_payload();
        stream_.expires_after(kRequestTime);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code, std::size_t) {
                              beast::error_code ignored;
                              self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          });
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request_parser<http::string_body> parser_;
    std::shared_ptr<MetricsServer::State> server_;
};

}  // namespace

void MetricsServer::State::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (self->closed) return;
        if (!ec) {
            if (self->open < kMaxConnections) {
                std::make_shared<Session>(std::move(socket), self)->start();
            }  // else: dropped, the socket closes here
        }
        self->accept();
    });
}

MetricsServer::MetricsServer(asio::io_context& io, const tcp::endpoint& at, Body body)
    : state_(std::make_shared<State>(io, at, std::move(body))) {
    state_->accept();
}

MetricsServer::~MetricsServer() {
    close();
}

tcp::endpoint MetricsServer::local_endpoint() const {
    return state_->acceptor.local_endpoint();
}

std::uint64_t MetricsServer::scrapes() const noexcept {
    return state_->scrapes;
}

void MetricsServer::close() {
    if (state_->closed) return;
    state_->closed = true;
    state_->body = nullptr;  // what it reads may be gone: a request still open gets no body
    beast::error_code ignored;
    state_->acceptor.close(ignored);
}

}  // namespace kadnode
