#include "kad/runtime.hpp"

#include "multicast_sockets.hpp"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
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
        send_on(owner_.socket_, to, datagram);
    }
    bool send_probe(const Endpoint& to, std::string_view datagram) override {
        if (!has_probe_port()) return false;
        send_on(owner_.probe_socket_, to, datagram);
        return true;
    }
    bool has_probe_port() const override { return owner_.probe_socket_.is_open(); }

    // A dual-stack socket ([::]:PORT) reaches both; one bound to an IPv6 address only IPv6.
    Families families() const override {
        return {.v4 = !owner_.v6_socket_ || owner_.dual_stack_, .v6 = owner_.v6_socket_};
    }

private:
    void send_on(udp::socket& socket, const Endpoint& to, std::string_view datagram) {
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
        socket.send_to(asio::buffer(datagram.data(), datagram.size()), dest, 0, ec);
        if (ec) ++owner_.rstats_.send_errors;
    }

    AsioNode& owner_;
};

// ---- the node ---------------------------------------------------------------------------------

AsioNode::AsioNode(asio::io_context& io, RuntimeConfig config)
    : io_(io), socket_(io), probe_socket_(io), timer_(io) {
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
    overflow_warning_every_ = config.overflow_warning_every;
    if (config.probe_port) open_probe_socket();
    const NodeId id = config.id ? *config.id : NodeId::random(rng_);
    transport_ = std::make_unique<SocketTransport>(*this);
    driver_ = std::make_unique<Driver>(std::move(config.node), id, *transport_, rng_, Clock::now());
    receive(socket_);
    if (probe_socket_.is_open()) receive(probe_socket_);
    rearm();
}

void AsioNode::open_probe_socket() {
    // As the main socket, at a port the system picks; best effort: without it the node verifies
    // from its own port (the node counts reach_probes only when this one is open).
    udp::endpoint at = to_asio(bind_);
    at.port(0);
    boost::system::error_code ec;
    probe_socket_.open(at.protocol(), ec);
    if (!ec && v6_socket_) {
        boost::system::error_code ignored;
        probe_socket_.set_option(asio::ip::v6_only(!dual_stack_), ignored);
    }
    if (!ec) probe_socket_.bind(at, ec);
    if (!ec) probe_socket_.non_blocking(true, ec);
    if (ec) {
        boost::system::error_code ignored;
        probe_socket_.close(ignored);
    }
}

AsioNode::~AsioNode() {
    try {
        close();
    } catch (...) {  // nothing to report to: the node is going away
    }
}

Endpoint AsioNode::local_endpoint() const {
    boost::system::error_code ec;
    const auto ep = socket_.local_endpoint(ec);
    return ec ? Endpoint{} : from_asio(ep);
}

std::optional<Endpoint> AsioNode::probe_endpoint() const {
    if (!probe_socket_.is_open()) return std::nullopt;
    boost::system::error_code ec;
    const auto ep = probe_socket_.local_endpoint(ec);
    if (ec) return std::nullopt;
    return from_asio(ep);
}

void AsioNode::close() {
    if (closed_) return;
    driver_->leave(Clock::now());  // with discovery on, others drop us from their views at once
    driver_->node().cancel_all();
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    probe_socket_.close(ignored);
    if (mcast_) mcast_->close();
}

Discovery& AsioNode::enable_discovery(DiscoveryOptions options) {
    if (driver_->discovery()) throw std::logic_error("discovery is already on");
    if (closed_) throw std::logic_error("the node is closed");
    // Only the families our RPC socket serves: a peer pings the announcement's source address.
    mcast_ = std::make_unique<detail::MulticastSockets>(io_, options, bind_,
                                                        !v6_socket_ || dual_stack_, v6_socket_);
    Discovery& d = driver_->enable_discovery(std::move(options.config), local_endpoint().port(),
                                             *mcast_, Clock::now());
    d.set_logger(logger_);
    mcast_->start([this](const Endpoint& from, std::string_view datagram) {
        if (closed_) return;
        driver_->handle_multicast(Clock::now(), from, datagram);
        rearm();
    });
    rearm();
    return d;
}

SavedState AsioNode::snapshot() const {
    const TimePoint now = Clock::now();
    const WallClock::time_point wall = WallClock::now();
    SavedState s;
    const Node& node = driver_->node();
    s.id = node.id();
    s.port = local_endpoint().port();
    for (const Contact* c : node.routing_table().all()) s.contacts.push_back({c->id, c->endpoint});
    auto save = [&](const Storage& store, std::vector<SavedItem>& out) {
        out.reserve(store.size());
        for (const auto& [target, item] : store.items()) out.push_back(to_saved(item, now, wall));
    };
    save(node.storage(), s.items);
    save(node.item_store(), s.bep44_items);
    return s;
}

void AsioNode::set_journal(Journal* journal) {
    Node& node = driver_->node();
    if (!journal) {
        node.set_store_observer({});
        node.set_new_contact_observer({});
        return;
    }
    auto append = [this, journal](const JournalRecord& r) {
        try {
            journal->append(r);
        } catch (const std::system_error& e) {
            journal_error(e.what());
        }
    };
    node.set_new_contact_observer([append](const NodeId& id, const Endpoint& at) {
        JournalRecord r;
        r.op = JournalRecord::Op::Contact;
        r.target = id;
        r.endpoint = at;
        append(r);
    });
    node.set_store_observer(
        [append](Node::Store store, const NodeId& target, const StoredItem* item) {
            JournalRecord r;
            r.bep44 = store == Node::Store::Items;
            r.target = target;
            if (item) {
                r.item = to_saved(*item, Clock::now(), WallClock::now());
            } else {
                r.op = JournalRecord::Op::Erase;
            }
            append(r);
        });
}

void AsioNode::journal_error(const std::string& what) {
    if (journal_failed_) return;
    journal_failed_ = true;
    driver_->node().refuse_stores("cannot keep it: " + what);
    KAD_LOG(logger_, Error, what + "; refusing stores until the state is saved");
}

void AsioNode::journal_recovered() {
    if (!journal_failed_) return;
    journal_failed_ = false;
    driver_->node().refuse_stores({});
}

std::optional<WatchId> AsioNode::watch(std::string key,
                                       std::function<void(const WatchEvent&)> on_event) {
    if (closed_) return std::nullopt;
    auto id = driver_->node().watch(
        Clock::now(), std::move(key),
        [this, alive = std::weak_ptr<bool>(alive_),
         on_event = std::move(on_event)](const WatchEvent& e) {
            boost::asio::post(io_, [this, alive, on_event, e] {
                // Not after unwatch(), nor once the node is gone.
                if (alive.expired() || closed_ || !driver_->node().watches().key(e.id)) return;
                on_event(e);
            });
        });
    rearm();  // its first get is due now
    return id;
}

bool AsioNode::unwatch(WatchId id) {
    return !closed_ && driver_->node().unwatch(id);
}

std::optional<TimePoint> AsioNode::unpublish(Node::Store store, const NodeId& target) {
    auto expires = driver_->node().unpublish(store, target);
    rearm();  // its next republish may come sooner than the refresh did
    return expires;
}

std::size_t AsioNode::restore(const SavedState& state) {
    const TimePoint now = Clock::now();
    const WallClock::time_point wall = WallClock::now();
    Node& node = driver_->node();
    std::size_t restored = 0;
    for (const auto& si : state.items) {
        if (si.expires <= wall) continue;  // its life ran out while we were down
        if (accepted(node.restore(from_saved(si, now, wall)))) ++restored;
    }
    for (const auto& si : state.bep44_items) {
        if (si.expires <= wall) continue;
        const auto r = node.restore_item(from_saved(si, now, wall));
        if (r && accepted(*r)) ++restored;
    }
    rearm();
    return restored;
}

namespace {

// The datagrams the system dropped at `socket` since its count read `seen`, modulo 2^32: nearly
// all of them for a full receive queue (SO_MEMINFO, Linux 4.12 and later). None if the socket is
// closed or the count cannot be read.
std::uint32_t drops_since(const udp::socket& socket, std::uint32_t seen) noexcept {
    if (!socket.is_open()) return 0;
    // Reading a counter changes nothing: the const_cast is for Asio's non-const native_handle().
    const int fd = const_cast<udp::socket&>(socket).native_handle();
    std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info.data(), &len) != 0 ||
        len <= SK_MEMINFO_DROPS * sizeof(std::uint32_t)) {
        return 0;
    }
    return static_cast<std::uint32_t>(info[SK_MEMINFO_DROPS] - seen);
}

}  // namespace

RuntimeStats AsioNode::runtime_stats() const noexcept {
    RuntimeStats s = rstats_;
    s.receive_overflows = overflows_.total + drops_since(socket_, overflows_.seen) +
                          probe_overflows_.total +
                          drops_since(probe_socket_, probe_overflows_.seen);
    return s;
}

void AsioNode::check_overflows(TimePoint now) {
    using namespace std::chrono_literals;
    if (now < overflows_checked_ + 1s) return;
    overflows_checked_ = now;
    for (auto [socket, o] :
         {std::pair{&socket_, &overflows_}, {&probe_socket_, &probe_overflows_}}) {
        const std::uint32_t more = drops_since(*socket, o->seen);
        o->total += more;
        o->seen += more;
    }
    const std::uint64_t total = overflows_.total + probe_overflows_.total;
    if (total == overflows_warned_ || now < overflow_warning_due_ ||
        !logger_.enabled(LogLevel::Warn)) {
        return;
    }
    logger_.log(LogLevel::Warn,
                std::to_string(total - overflows_warned_) + " datagrams dropped by the system " +
                    (overflows_warned_ == 0 ? "so far" : "since the last warning") +
                    ": the receive queue was full, the node fell behind (a busy CPU, or a flood;"
                    " receive_overflows in stats)");
    overflows_warned_ = total;
    overflow_warning_due_ = now + overflow_warning_every_;
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

// The thread's slots, unless a handler further up this thread's stack is still reading from
// them (a callback that runs the io_context itself): then slots of its own.
class SlotsLease {
public:
    SlotsLease() {
        if (depth() > 0) own_ = std::make_unique<ReceiveSlots>();
        ++depth();
    }
    ~SlotsLease() { --depth(); }
    SlotsLease(const SlotsLease&) = delete;
    SlotsLease& operator=(const SlotsLease&) = delete;
    ReceiveSlots& slots() { return own_ ? *own_ : shared(); }

private:
    static int& depth() {
        thread_local int d = 0;
        return d;
    }
    static ReceiveSlots& shared() {
        thread_local ReceiveSlots s;
        return s;
    }
    std::unique_ptr<ReceiveSlots> own_;
};

// Reads what is queued on `fd`, up to kReceiveBatch datagrams, handing each to `deliver`, which
// returns false to stop. recvmmsg reads up to kSlots datagrams a call, and a call that returns
// fewer shows the queue empty, where a recvfrom loop needs one more call to learn it.
template <class Deliver>
void read_queued(int fd, ReceiveSlots& slots, RuntimeStats& stats, Deliver deliver) {
    for (int read = 0; read < kReceiveBatch;) {
        slots.reset();
        const int r = ::recvmmsg(fd, slots.hdrs.data(), kSlots, MSG_DONTWAIT, nullptr);
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++stats.receive_errors;
            return;
        }
        for (std::size_t i = 0; i < static_cast<std::size_t>(r); ++i) {
            const mmsghdr& m = slots.hdrs[i];
            if (m.msg_hdr.msg_flags & MSG_TRUNC) {
                ++stats.truncated;
                continue;
            }
            udp::endpoint sender;
            if (m.msg_hdr.msg_namelen > sender.capacity()) continue;
            std::memcpy(sender.data(), m.msg_hdr.msg_name, m.msg_hdr.msg_namelen);
            sender.resize(m.msg_hdr.msg_namelen);
            const std::string_view datagram(static_cast<const char*>(m.msg_hdr.msg_iov->iov_base),
                                            m.msg_len);
            if (!deliver(from_asio(sender), datagram)) return;
        }
        read += r;
        if (static_cast<unsigned>(r) < kSlots) return;  // the queue is empty
    }
}

}  // namespace

void AsioNode::receive(udp::socket& socket) {
    // Wait until the socket is readable, then read what is queued (docs/BENCHMARKS.md).
    socket.async_wait(udp::socket::wait_read, [this, &socket, alive = std::weak_ptr<bool>(alive_)](
                                                  const boost::system::error_code& ec) {
        // The aborted completion runs even after destruction:
        // check the token before touching anything of ours.
        if (alive.expired() || closed_ || ec == asio::error::operation_aborted) return;
        if (ec) {
            ++rstats_.receive_errors;
            if (!socket.is_open()) return;
        }
        SlotsLease lease;
        bool stopped = false;
        read_queued(socket.native_handle(), lease.slots(), rstats_,
                    [&](const Endpoint& from, std::string_view datagram) {
                        driver_->handle_datagram(Clock::now(), from, datagram,
                                                 &socket == &probe_socket_);
                        stopped = alive.expired() || closed_;  // a callback stopped us
                        return !stopped;
                    });
        if (stopped) return;
        check_overflows(Clock::now());
        rearm();
        receive(socket);
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
