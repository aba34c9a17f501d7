#include "multicast_sockets.hpp"

#include <sys/socket.h>

#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace kad::detail {

namespace asio = boost::asio;
using asio::ip::udp;

struct MulticastSockets::Interface {
    std::string name;
    unsigned index = 0;
    bool up = false, loopback = false, multicast = false;
    std::vector<asio::ip::address_v4> v4;
    std::vector<asio::ip::address_v6> v6;

    bool holds(const asio::ip::address& a) const {
        return a.is_v4() ? std::find(v4.begin(), v4.end(), a.to_v4()) != v4.end()
                         : std::find(v6.begin(), v6.end(), a.to_v6()) != v6.end();
    }
};

namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

template <class Interface>
void add_address(Interface& i, const sockaddr* addr) {
    if (addr->sa_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
        i.v4.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
    } else if (addr->sa_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr);
        asio::ip::address_v6::bytes_type b{};
        std::memcpy(b.data(), &sin6->sin6_addr, 16);
        i.v6.push_back(asio::ip::address_v6(b));
    }
}

template <class Interface>
std::vector<Interface> list_interfaces() {
    std::vector<Interface> out;
    ifaddrs* head = nullptr;
    if (::getifaddrs(&head) != 0) return out;
    for (ifaddrs* a = head; a; a = a->ifa_next) {
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const Interface& i) { return i.name == a->ifa_name; });
        if (it == out.end()) {
            Interface i;
            i.name = a->ifa_name;
            i.index = ::if_nametoindex(a->ifa_name);
            i.up = (a->ifa_flags & IFF_UP) != 0;
            i.loopback = (a->ifa_flags & IFF_LOOPBACK) != 0;
            i.multicast = (a->ifa_flags & IFF_MULTICAST) != 0;
            out.push_back(i);
            it = out.end() - 1;
        }
        if (a->ifa_addr) add_address(*it, a->ifa_addr);
    }
    ::freeifaddrs(head);
    return out;
}

}  // namespace

MulticastSockets::MulticastSockets(asio::io_context& io, const DiscoveryOptions& options,
                                   const Endpoint& bind, bool use_v4, bool use_v6)
    : v4_(io), v6_(io), buf4_(2048), buf6_(2048), port_(options.port) {
    boost::system::error_code ec;
    group4_ = asio::ip::make_address_v4(options.group_v4, ec);
    if (ec || !group4_.is_multicast()) {
        throw std::invalid_argument("'" + options.group_v4 + "' is not an IPv4 multicast group");
    }
    group6_ = asio::ip::make_address_v6(options.group_v6, ec);
    if (ec || !group6_.is_multicast()) {
        throw std::invalid_argument("'" + options.group_v6 + "' is not an IPv6 multicast group");
    }
    join(choose(options, bind), use_v4, use_v6);
    if (joined4_.empty() && joined6_.empty()) {
        throw std::system_error(
            std::make_error_code(std::errc::no_such_device),
            "LAN discovery: could not join the group on any interface" +
                (errors_.empty() ? std::string(" (none is up and multicast-capable)")
                                 : ":" + errors_));
    }
}

MulticastSockets::~MulticastSockets() {
    close();
}

std::vector<MulticastSockets::Interface> MulticastSockets::choose(const DiscoveryOptions& o,
                                                                  const Endpoint& bind) const {
    const auto interfaces = list_interfaces<Interface>();
    for (const auto& name : o.interfaces) {
        if (std::none_of(interfaces.begin(), interfaces.end(),
                         [&](const Interface& i) { return i.name == name; })) {
            throw std::invalid_argument("no network interface named '" + name + "'");
        }
    }
    // The interfaces named, or else every one that is up and multicast-capable, and loopback;
    // only the one holding the RPC socket's address if it has one: a peer pings the
    // announcement's source address at our RPC port.
    std::vector<Interface> chosen;
    for (const auto& i : interfaces) {
        const bool named =
            std::find(o.interfaces.begin(), o.interfaces.end(), i.name) != o.interfaces.end();
        if (o.interfaces.empty() ? !i.up || !(i.multicast || i.loopback) : !named) continue;
        if (!bind.is_unspecified() && !i.holds(to_asio(bind).address())) continue;
        chosen.push_back(i);
    }
    return chosen;
}

void MulticastSockets::join(const std::vector<Interface>& chosen, bool use_v4, bool use_v6) {
    boost::system::error_code ec;
    if (use_v4 && open(v4_, udp::v4())) {
        for (const auto& i : chosen) {
            if (i.v4.empty()) continue;
            v4_.set_option(asio::ip::multicast::join_group(group4_, i.v4.front()), ec);
            if (ec) {
                errors_ += " " + i.name + " (IPv4): " + ec.message() + ";";
                continue;
            }
            joined4_.push_back(i.v4.front());
            stats_.interfaces.push_back(i.name + " (IPv4)");
        }
    }
    if (use_v6 && open(v6_, udp::v6())) {
        for (const auto& i : chosen) {
            if (i.v6.empty()) continue;
            v6_.set_option(asio::ip::multicast::join_group(group6_, i.index), ec);
            if (ec) {
                errors_ += " " + i.name + " (IPv6): " + ec.message() + ";";
                continue;
            }
            joined6_.push_back(i.index);
            stats_.interfaces.push_back(i.name + " (IPv6)");
        }
    }
}

bool MulticastSockets::open(udp::socket& s, const udp& protocol) {
    boost::system::error_code ec;
    s.open(protocol, ec);
    if (!ec && protocol == udp::v6()) s.set_option(asio::ip::v6_only(true), ec);
    if (!ec) s.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) s.set_option(ReusePort(true), ec);
    if (!ec) s.bind(udp::endpoint(protocol, port_), ec);
    if (!ec) s.set_option(asio::ip::multicast::hops(1), ec);
    if (!ec) s.set_option(asio::ip::multicast::enable_loopback(true), ec);
    if (!ec) s.non_blocking(true, ec);
    if (!ec) return true;
    errors_ += " port " + std::to_string(port_) + ": " + ec.message() + ";";
    boost::system::error_code ignored;
    s.close(ignored);
    return false;
}

void MulticastSockets::start(Receiver receiver) {
    receiver_ = std::move(receiver);
    if (!joined4_.empty()) receive(v4_, buf4_, sender4_);
    if (!joined6_.empty()) receive(v6_, buf6_, sender6_);
}

void MulticastSockets::multicast(std::string_view datagram) {
    const auto buffer = asio::buffer(datagram.data(), datagram.size());
    for (const auto& addr : joined4_) {
        boost::system::error_code ec;
        v4_.set_option(asio::ip::multicast::outbound_interface(addr), ec);
        if (!ec) v4_.send_to(buffer, udp::endpoint(group4_, port_), 0, ec);
        if (ec) ++stats_.send_errors;
    }
    for (unsigned index : joined6_) {
        boost::system::error_code ec;
        v6_.set_option(asio::ip::multicast::outbound_interface(index), ec);
        asio::ip::address_v6 group = group6_;
        group.scope_id(index);
        if (!ec) v6_.send_to(buffer, udp::endpoint(group, port_), 0, ec);
        if (ec) ++stats_.send_errors;
    }
}

void MulticastSockets::close() {
    closed_ = true;
    boost::system::error_code ignored;
    v4_.close(ignored);
    v6_.close(ignored);
}

void MulticastSockets::receive(udp::socket& s, std::vector<char>& buf, udp::endpoint& sender) {
    s.async_receive_from(asio::buffer(buf), sender,
                         [this, &s, &buf, &sender, alive = std::weak_ptr<bool>(alive_)](
                             const boost::system::error_code& ec, std::size_t n) {
                             // The aborted completion runs even after destruction: check the token
                             // first.
                             if (alive.expired() || closed_ || ec == asio::error::operation_aborted)
                                 return;
                             if (!ec) {
                                 receiver_(from_asio(sender), std::string_view(buf.data(), n));
                                 if (alive.expired() || closed_) return;  // the receiver stopped us
                             } else if (ec == asio::error::message_size) {
                                 ++stats_.truncated;
                             }
                             receive(s, buf, sender);
                         });
}

}  // namespace kad::detail
