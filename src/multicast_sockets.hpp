#pragma once
// LAN discovery's sockets for the Boost.Asio runtime: one UDP socket per address family on the
// discovery port (SO_REUSEADDR and SO_REUSEPORT: every node on a host gets every multicast),
// joined to the group on each chosen interface, TTL 1, loop on. A datagram goes out once per
// interface, with the outbound interface set, so loopback works without a multicast route.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "kad/discovery.hpp"
#include "kad/runtime.hpp"

namespace kad::detail {

class MulticastSockets final : public MulticastTransport {
public:
    using Receiver = std::function<void(const Endpoint& from, std::string_view datagram)>;

    // Joins the groups of `options` on the interfaces that can reach `bind` (the RPC socket's
    // address), in the families asked for. Throws std::invalid_argument for a bad group or
    // interface name, std::system_error when no interface could join.
    MulticastSockets(boost::asio::io_context& io, const DiscoveryOptions& options,
                     const Endpoint& bind, bool use_v4, bool use_v6);
    ~MulticastSockets() override;
    MulticastSockets(const MulticastSockets&) = delete;
    MulticastSockets& operator=(const MulticastSockets&) = delete;

    // Starts receiving; each datagram goes to `receiver` (never after close() or destruction).
    void start(Receiver receiver);
    void multicast(std::string_view datagram) override;
    void close();
    const DiscoveryRuntimeStats& stats() const noexcept { return stats_; }

private:
    struct Interface;
    std::vector<Interface> choose(const DiscoveryOptions& o, const Endpoint& bind) const;
    void join(const std::vector<Interface>& chosen, bool use_v4, bool use_v6);
    bool open(boost::asio::ip::udp::socket& s, const boost::asio::ip::udp& protocol);
    void receive(boost::asio::ip::udp::socket& s, std::vector<char>& buf,
                 boost::asio::ip::udp::endpoint& sender);

    boost::asio::ip::udp::socket v4_, v6_;
    std::vector<char> buf4_, buf6_;
    boost::asio::ip::udp::endpoint sender4_, sender6_;
    boost::asio::ip::address_v4 group4_;
    boost::asio::ip::address_v6 group6_;
    std::uint16_t port_ = 0;
    std::vector<boost::asio::ip::address_v4> joined4_;
    std::vector<unsigned> joined6_;
    std::string errors_;  // why sockets or interfaces failed, for the error when none joined
    DiscoveryRuntimeStats stats_;
    Receiver receiver_;
    bool closed_ = false;
    // Receive handlers hold a weak reference: they run after destruction with operation_aborted.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kad::detail
