#include "kad/runtime.hpp"

#include <sys/socket.h>

#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
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

// ---- LAN discovery's sockets ----------------------------------------------------------------

namespace {

struct Interface {
    std::string name;
    unsigned index = 0;
    bool up = false, loopback = false, multicast = false;
    std::vector<asio::ip::address_v4> v4;
    std::vector<asio::ip::address_v6> v6;
};

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
        if (!a->ifa_addr) continue;
        if (a->ifa_addr->sa_family == AF_INET) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
            it->v4.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
        } else if (a->ifa_addr->sa_family == AF_INET6) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
            asio::ip::address_v6::bytes_type b{};
            std::memcpy(b.data(), &sin6->sin6_addr, 16);
            it->v6.push_back(asio::ip::address_v6(b));
        }
    }
    ::freeifaddrs(head);
    return out;
}

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

// One socket per address family on the discovery port (SO_REUSEPORT: many nodes per host),
// joined to the group on each chosen interface; a datagram goes out once per interface.
class AsioNode::MulticastSockets final : public MulticastTransport {
public:
    MulticastSockets(AsioNode& owner, const DiscoveryOptions& o)
        : owner_(owner), v4_(owner.io_), v6_(owner.io_), buf4_(2048), buf6_(2048) {
        boost::system::error_code ec;
        group4_ = asio::ip::make_address_v4(o.group_v4, ec);
        if (ec || !group4_.is_multicast()) {
            throw std::invalid_argument("'" + o.group_v4 + "' is not an IPv4 multicast group");
        }
        group6_ = asio::ip::make_address_v6(o.group_v6, ec);
        if (ec || !group6_.is_multicast()) {
            throw std::invalid_argument("'" + o.group_v6 + "' is not an IPv6 multicast group");
        }
        port_ = o.port;

        // Only the families and interfaces our RPC socket can be reached on: a peer pings the
        // announcement's source address at our RPC port.
        const Endpoint bind = owner.bind_;
        const bool use_v4 = !owner.v6_socket_ || owner.dual_stack_;
        const bool use_v6 = owner.v6_socket_;
        const auto interfaces = list_interfaces();
        for (const auto& name : o.interfaces) {
            if (std::none_of(interfaces.begin(), interfaces.end(),
                             [&](const Interface& i) { return i.name == name; })) {
                throw std::invalid_argument("no network interface named '" + name + "'");
            }
        }
        std::vector<Interface> chosen;
        for (const auto& i : interfaces) {
            if (!o.interfaces.empty()) {
                if (std::find(o.interfaces.begin(), o.interfaces.end(), i.name) ==
                    o.interfaces.end()) {
                    continue;
                }
            } else if (!i.up || !(i.multicast || i.loopback)) {
                continue;
            }
            if (!bind.is_unspecified()) {
                const auto addr = to_asio(bind).address();
                const bool has =
                    addr.is_v4() ? std::find(i.v4.begin(), i.v4.end(), addr.to_v4()) != i.v4.end()
                                 : std::find(i.v6.begin(), i.v6.end(), addr.to_v6()) != i.v6.end();
                if (!has) continue;
            }
            chosen.push_back(i);
        }

        std::string errors;
        if (use_v4 && open(v4_, udp::v4(), errors)) {
            for (const auto& i : chosen) {
                if (i.v4.empty()) continue;
                v4_.set_option(asio::ip::multicast::join_group(group4_, i.v4.front()), ec);
                if (ec) {
                    errors += " " + i.name + " (IPv4): " + ec.message() + ";";
                    continue;
                }
                joined4_.push_back(i.v4.front());
                stats_.interfaces.push_back(i.name + " (IPv4)");
            }
        }
        if (use_v6 && open(v6_, udp::v6(), errors)) {
            for (const auto& i : chosen) {
                if (i.v6.empty()) continue;
                v6_.set_option(asio::ip::multicast::join_group(group6_, i.index), ec);
                if (ec) {
                    errors += " " + i.name + " (IPv6): " + ec.message() + ";";
                    continue;
                }
                joined6_.push_back(i.index);
                stats_.interfaces.push_back(i.name + " (IPv6)");
            }
        }
        if (joined4_.empty() && joined6_.empty()) {
            throw std::system_error(
                std::make_error_code(std::errc::no_such_device),
                "LAN discovery: could not join the group on any interface" +
                    (errors.empty() ? std::string(" (none is up and multicast-capable)")
                                    : ":" + errors));
        }
    }

    void start() {
        if (!joined4_.empty()) receive(v4_, buf4_, sender4_);
        if (!joined6_.empty()) receive(v6_, buf6_, sender6_);
    }

    void multicast(std::string_view datagram) override {
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

    void close() {
        boost::system::error_code ignored;
        v4_.close(ignored);
        v6_.close(ignored);
    }

    const DiscoveryRuntimeStats& stats() const { return stats_; }

private:
    bool open(udp::socket& s, const udp& protocol, std::string& errors) {
        boost::system::error_code ec;
        s.open(protocol, ec);
        if (!ec && protocol == udp::v6()) s.set_option(asio::ip::v6_only(true), ec);
        if (!ec) s.set_option(udp::socket::reuse_address(true), ec);
        if (!ec) s.set_option(ReusePort(true), ec);
        if (!ec) s.bind(udp::endpoint(protocol, port_), ec);
        if (!ec) s.set_option(asio::ip::multicast::hops(1), ec);
        if (!ec) s.set_option(asio::ip::multicast::enable_loopback(true), ec);
        if (!ec) s.non_blocking(true, ec);
        if (ec) {
            errors += " port " + std::to_string(port_) + ": " + ec.message() + ";";
            boost::system::error_code ignored;
            s.close(ignored);
            return false;
        }
        return true;
    }

    void receive(udp::socket& s, std::vector<char>& buf, udp::endpoint& sender) {
        s.async_receive_from(
            asio::buffer(buf), sender,
            [this, &s, &buf, &sender, alive = std::weak_ptr<bool>(owner_.alive_)](
                const boost::system::error_code& ec, std::size_t n) {
                if (alive.expired() || owner_.closed_ || ec == asio::error::operation_aborted) {
                    return;
                }
                if (!ec) {
                    owner_.driver_->handle_multicast(Clock::now(), from_asio(sender),
                                                     std::string_view(buf.data(), n));
                    owner_.rearm();
                } else if (ec == asio::error::message_size) {
                    ++stats_.truncated;
                }
                receive(s, buf, sender);
            });
    }

    AsioNode& owner_;
    udp::socket v4_, v6_;
    std::vector<char> buf4_, buf6_;
    udp::endpoint sender4_, sender6_;
    asio::ip::address_v4 group4_;
    asio::ip::address_v6 group6_;
    std::uint16_t port_ = 0;
    std::vector<asio::ip::address_v4> joined4_;
    std::vector<unsigned> joined6_;
    DiscoveryRuntimeStats stats_;
};

// ---- the node ---------------------------------------------------------------------------------

AsioNode::AsioNode(asio::io_context& io, RuntimeConfig config) : io_(io), socket_(io), timer_(io) {
    const udp::endpoint bind = to_asio(config.bind);
    v6_socket_ = config.bind.is_v6();
    boost::system::error_code ec;
    socket_.open(bind.protocol(), ec);
    if (!ec && v6_socket_) {
        // Serve IPv4 too where the system allows it; where it does not, stay IPv6-only.
        boost::system::error_code dual;
        socket_.set_option(asio::ip::v6_only(false), dual);
        dual_stack_ = !dual && config.bind.is_unspecified();
    }
    if (!ec) socket_.bind(bind, ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (!ec) {
        // Room for a flood to queue while the node waits for a CPU (some milliseconds), so that
        // an honest datagram behind it is late rather than lost. Best effort: the system caps it
        // at net.core.rmem_max, unless we may force it (root).
        constexpr int kReceiveBuffer = 4 << 20;
        boost::system::error_code ignored;
        socket_.set_option(asio::socket_base::receive_buffer_size(kReceiveBuffer), ignored);
        asio::socket_base::receive_buffer_size got;
        socket_.get_option(got, ignored);
        if (got.value() < kReceiveBuffer) {
            const int want = kReceiveBuffer;
            ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want);
        }
    }
    if (ec) {
        throw std::system_error(ec.value(), std::system_category(),
                                "cannot bind UDP " + config.bind.to_string());
    }
    bind_ = config.bind;
    const NodeId id = config.id ? *config.id : NodeId::random(rng_);
    transport_ = std::make_unique<SocketTransport>(*this);
    driver_ = std::make_unique<Driver>(std::move(config.node), id, *transport_, rng_, Clock::now());
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
    driver_->leave(Clock::now());  // with discovery on, others drop us from their views at once
    driver_->node().cancel_all();
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    if (mcast_) mcast_->close();
}

Discovery& AsioNode::enable_discovery(DiscoveryOptions options) {
    if (driver_->discovery()) throw std::logic_error("discovery is already on");
    if (closed_) throw std::logic_error("the node is closed");
    mcast_ = std::make_unique<MulticastSockets>(*this, options);
    Discovery& d = driver_->enable_discovery(std::move(options.config), local_endpoint().port(),
                                             *mcast_, Clock::now());
    d.set_logger(logger_);
    mcast_->start();
    rearm();
    return d;
}

SavedState AsioNode::snapshot() const {
    const TimePoint now = Clock::now();
    const WallClock::time_point wall = WallClock::now();
    auto to_wall = [&](TimePoint t) {
        return wall + std::chrono::duration_cast<WallClock::duration>(t - now);
    };
    SavedState s;
    const Node& node = driver_->node();
    s.id = node.id();
    s.port = local_endpoint().port();
    for (const Contact* c : node.routing_table().all()) s.contacts.push_back({c->id, c->endpoint});
    for (const auto& [target, item] : node.storage().items()) {
        SavedItem si;
        si.key = item.key;
        si.value = item.value;
        si.seq = item.seq;
        si.expires = to_wall(item.expires);
        si.ttl = item.ttl;
        si.original = item.original;
        si.published_at = to_wall(item.published_at);
        if (!item.source.is_unspecified()) si.source = item.source;
        s.items.push_back(std::move(si));
    }
    return s;
}

std::size_t AsioNode::restore(const SavedState& state) {
    const TimePoint now = Clock::now();
    const WallClock::time_point wall = WallClock::now();
    auto to_steady = [&](WallClock::time_point t) {
        return now + std::chrono::duration_cast<Duration>(t - wall);
    };
    std::size_t restored = 0;
    for (const auto& si : state.items) {
        if (si.expires <= wall) continue;  // its life ran out while we were down
        StoredItem item;
        item.key = si.key;
        item.value = si.value;
        item.seq = si.seq;
        item.expires = to_steady(si.expires);
        item.ttl = si.ttl;
        item.stored_at = now;
        item.original = si.original;
        item.published_at = to_steady(si.published_at);
        if (si.source) item.source = *si.source;
        if (accepted(driver_->node().restore(std::move(item)))) ++restored;
    }
    rearm();
    return restored;
}

const DiscoveryRuntimeStats& AsioNode::discovery_runtime_stats() const {
    static const DiscoveryRuntimeStats kNone;
    return mcast_ ? mcast_->stats() : kNone;
}

TimePoint AsioNode::next_timeout() const {
    return driver_->next_timeout();
}

namespace {

constexpr int kReceiveBatch = 64;  // datagrams read per wake-up at most, then others get a turn
constexpr unsigned kSlots = 16;    // datagrams one recvmmsg call reads
constexpr std::size_t kSlotSize = 65536;

// Receive buffers for recvmmsg, one set per thread: nodes that share an io_context share them, so
// a node costs no receive buffer of its own (kadswarm runs thousands in one process). Each slot
// takes the largest datagram there is; only the pages a datagram touches become resident.
struct ReceiveSlots {
    std::unique_ptr<char[]> data{new char[kSlots * kSlotSize]};  // not zeroed: not touched
    std::array<mmsghdr, kSlots> hdrs{};
    std::array<iovec, kSlots> iovs{};
    std::array<sockaddr_storage, kSlots> from{};

    void reset() {
        for (unsigned i = 0; i < kSlots; ++i) {
            iovs[i] = {data.get() + i * kSlotSize, kSlotSize};
            hdrs[i] = {};
            hdrs[i].msg_hdr.msg_iov = &iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_hdr.msg_name = &from[i];
            hdrs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        }
    }
};

}  // namespace

void AsioNode::receive() {
    // Wait until the socket is readable, then read what is queued, up to kReceiveBatch, with
    // recvmmsg: one system call reads up to kSlots datagrams, and one that returns fewer shows
    // the queue empty, where a recvfrom loop needs one more call to learn it (docs/BENCHMARKS.md).
    socket_.async_wait(udp::socket::wait_read, [this, alive = std::weak_ptr<bool>(alive_)](
                                                   const boost::system::error_code& ec) {
        // The aborted completion runs even after destruction:
        // check the token before touching anything of ours.
        if (alive.expired() || closed_ || ec == asio::error::operation_aborted) return;
        if (ec) {
            ++rstats_.receive_errors;
            if (!socket_.is_open()) return;
        }
        // The thread's slots, unless a handler further up this thread's stack is still
        // reading from them (a callback that runs the io_context itself): then slots of our own.
        thread_local ReceiveSlots shared;
        thread_local int depth = 0;
        std::unique_ptr<ReceiveSlots> own;
        if (depth > 0) own = std::make_unique<ReceiveSlots>();
        ReceiveSlots& slots = own ? *own : shared;
        ++depth;
        struct Leave {
            int& d;
            ~Leave() { --d; }
        } leave{depth};
        for (int read = 0; read < kReceiveBatch;) {
            slots.reset();
            const int r = ::recvmmsg(socket_.native_handle(), slots.hdrs.data(), kSlots,
                                     MSG_DONTWAIT, nullptr);
            if (r < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    ++rstats_.receive_errors;
                }
                break;
            }
            for (int i = 0; i < r; ++i) {
                const msghdr& h = slots.hdrs[static_cast<std::size_t>(i)].msg_hdr;
                if (h.msg_flags & MSG_TRUNC) {
                    ++rstats_.truncated;
                    continue;
                }
                udp::endpoint sender;
                if (h.msg_namelen > sender.capacity()) continue;
                std::memcpy(sender.data(), h.msg_name, h.msg_namelen);
                sender.resize(h.msg_namelen);
                driver_->handle_datagram(
                    Clock::now(), from_asio(sender),
                    std::string_view(static_cast<const char*>(h.msg_iov->iov_base),
                                     slots.hdrs[static_cast<std::size_t>(i)].msg_len));
                if (alive.expired() || closed_) return;  // a callback stopped us
            }
            read += r;
            if (static_cast<unsigned>(r) < kSlots) break;  // the queue is empty
        }
        rearm();
        receive();
    });
}

void AsioNode::rearm() {
    if (closed_) return;
    const TimePoint t = next_timeout();
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
            driver_->handle_timeout(Clock::now());
            rearm();
        });
}

}  // namespace kad
