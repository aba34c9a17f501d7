#include "kad/runtime.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <system_error>

namespace kad {

namespace asio = boost::asio;
using asio::ip::udp;

udp::endpoint to_asio(const Endpoint& ep) {
    const auto& b = ep.address_bytes();
    if (ep.is_v4()) {
        return {asio::ip::address_v4(asio::ip::address_v4::bytes_type{b[0], b[1], b[2], b[3]}),
                ep.port()};
    }
    asio::ip::address_v6::bytes_type v6{};
    std::copy(b.begin(), b.end(), v6.begin());
    return {asio::ip::address_v6(v6, ep.scope_id()), ep.port()};
}

Endpoint from_asio(const udp::endpoint& ep) {
    const auto addr = ep.address();
    if (addr.is_v4()) {
        const auto b = addr.to_v4().to_bytes();
        return Endpoint::v4({b[0], b[1], b[2], b[3]}, ep.port());
    }
    const auto v6 = addr.to_v6();
    const auto b = v6.to_bytes();
    std::array<std::uint8_t, 16> a{};
    std::copy(b.begin(), b.end(), a.begin());
    const Endpoint e = Endpoint::v6(a, ep.port()).normalized();
    return e.is_link_local() ? e.with_scope(static_cast<std::uint32_t>(v6.scope_id())) : e;
}

// Sends right away on the non-blocking socket: UDP sends complete at once or fail (a full
// buffer), so there is nothing to wait for and no buffer to keep alive.
class AsioNode::SocketTransport final : public Transport {
public:
    explicit SocketTransport(AsioNode& owner) : owner_(owner) {}
    void send(const Endpoint& to, std::string_view datagram) override {
        if (owner_.closed_) return;
        udp::endpoint dest;
        if (owner_.v6_socket_) {
            dest = to_asio(to);
            if (to.is_v4()) {  // a dual-stack socket reaches IPv4 peers at mapped addresses
                dest = udp::endpoint(
                    asio::ip::make_address_v6(asio::ip::v4_mapped, dest.address().to_v4()),
                    to.port());
            }
        } else {
            if (to.is_v6()) {
                ++owner_.rstats_.unsendable;
                return;
            }
            dest = to_asio(to);
        }
        boost::system::error_code ec;
        owner_.socket_.send_to(asio::buffer(datagram.data(), datagram.size()), dest, 0, ec);
        if (ec) ++owner_.rstats_.send_errors;
    }

    bool can_reach(const Endpoint& to) const override { return owner_.v6_socket_ || to.is_v4(); }

private:
    AsioNode& owner_;
};

AsioNode::AsioNode(asio::io_context& io, RuntimeConfig config)
    : io_(io), socket_(io), timer_(io), rbuf_(65536) {
    const udp::endpoint bind = to_asio(config.bind);
    v6_socket_ = config.bind.is_v6();
    boost::system::error_code ec;
    socket_.open(bind.protocol(), ec);
    if (!ec && v6_socket_) {
        // Serve IPv4 too where the system allows it; where it does not, stay IPv6-only.
        boost::system::error_code ignored;
        socket_.set_option(asio::ip::v6_only(false), ignored);
    }
    if (!ec) socket_.bind(bind, ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (ec) {
        throw std::system_error(ec.value(), std::system_category(),
                                "cannot bind UDP " + config.bind.to_string());
    }
    const NodeId id = config.id ? *config.id : NodeId::random(rng_);
    transport_ = std::make_unique<SocketTransport>(*this);
    node_ = std::make_unique<Node>(std::move(config.node), id, *transport_, rng_, Clock::now());
    receive();
    rearm();
}

AsioNode::~AsioNode() {
    close();
}

Endpoint AsioNode::local_endpoint() const {
    boost::system::error_code ec;
    const auto ep = socket_.local_endpoint(ec);
    return ec ? Endpoint{} : from_asio(ep);
}

void AsioNode::close() {
    if (closed_) return;
    node_->cancel_all();
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
}

void AsioNode::receive() {
    socket_.async_receive_from(
        asio::buffer(rbuf_), sender_,
        [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec,
                                                    std::size_t n) {
            // The aborted completion runs even after destruction:
            // check the token before touching anything of ours.
            if (alive.expired() || closed_ || ec == asio::error::operation_aborted) {
                return;
            }
            if (!ec) {
                node_->handle_datagram(Clock::now(), from_asio(sender_),
                                       std::string_view(rbuf_.data(), n));
                rearm();
            } else if (ec == asio::error::message_size) {
                ++rstats_.truncated;
            } else {
                ++rstats_.receive_errors;
            }
            receive();
        });
}

void AsioNode::rearm() {
    if (closed_) return;
    const TimePoint t = node_->next_timeout();
    if (t == armed_) return;
    armed_ = t;
    if (t == TimePoint::max()) {
        timer_.cancel();
        return;
    }
    timer_.expires_at(t);
    timer_.async_wait(
        [this, t, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
            if (alive.expired() || ec || closed_ || armed_ != t) return;  // gone, cancelled, stale
            armed_ = TimePoint::max();
            node_->handle_timeout(Clock::now());
            rearm();
        });
}

}  // namespace kad
