#pragma once
// kad::AsioNode: a kad::Node on a Boost.Asio io_context, with a UDP socket and one steady_timer.
//
// Operations take completion tokens: a callback, boost::asio::use_future or
// boost::asio::use_awaitable all work. Each completes with one result value (PingResult,
// GetResult, ...) whose `ok` and `error` say how it went; a completion is never invoked from
// inside the call that starts the operation.
//
//     boost::asio::io_context io;
//     kad::AsioNode node(io, {});                       // binds 0.0.0.0, a random port
//     node.async_bootstrap({{*kad::Endpoint::parse("127.0.0.1:4000"), {}}},
//                          [](const kad::BootstrapResult& r) { ... });
//     node.async_put("key", "value", {}, [](const kad::PutResult& r) { ... });
//     io.run();
//
// One thread runs the io_context and owns the node; several AsioNodes may share one io_context,
// and a process may run several io_contexts, each on a thread of its own (kad::ContextPool): a
// node is then used only on its context's thread (post to context()), and its results come back
// through the executor bound to the handler.
// close() (or the destructor) cancels what is in flight and closes the socket, so run() returns
// once nothing else is pending.

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kad/discovery.hpp"
#include "kad/driver.hpp"
#include "kad/journal.hpp"
#include "kad/node.hpp"
#include "kad/random.hpp"
#include "kad/state.hpp"

namespace kad {

namespace detail {
class MulticastSockets;
}

// Cancels the operations an AsioNode started while it was in scope (AsioNode::CancelScope):
// the REPL's Ctrl-C ends the command it runs this way. (Boost 1.74, Debian 12's, has no
// cancellation slots.) Use it on the thread that runs the io_context.
class CancelSignal {
public:
    // Each operation still running completes with "cancelled" (through its handler, as any
    // completion: never inside this call). Then the signal is empty until a scope adds more.
    void emit() {
        ++emitted_;
        auto all = std::exchange(cancels_, {});
        for (auto& cancel : all) cancel();
    }
    // How many times emit() ran: a continuation that started before an emit and runs after it
    // (its handler was queued) sees the count change and does not start what it would.
    std::uint64_t emitted() const noexcept { return emitted_; }
    // Expires with the signal: for continuations that may outlive it.
    std::weak_ptr<const bool> alive() const { return alive_; }
    // Adds something else to cancel at the next emit() (a name lookup before an operation).
    void on_emit(std::function<void()> cancel) { cancels_.push_back(std::move(cancel)); }
    // Forgets the operations added so far, without cancelling them (they have ended).
    void clear() noexcept { cancels_.clear(); }

private:
    friend class AsioNode;
    std::vector<std::function<void()>> cancels_;
    std::uint64_t emitted_ = 0;
    std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
};

struct RuntimeConfig {
    NodeConfig node;
    std::optional<NodeId> id;  // random when unset
    // 0.0.0.0:0 by default: every IPv4 interface, a port the system picks. [::]:PORT serves
    // IPv6 and, where the system allows, IPv4 too (a dual-stack socket).
    Endpoint bind = Endpoint::v4({0, 0, 0, 0}, 0);
    // A second UDP socket on the bind address, at a port the system picks: the node pings nodes
    // that queried it from there (Transport::send_probe), so that one behind NAT, which strangers
    // cannot reach, does not answer and stays out of the routing table. Off: such pings go from
    // the node's own port, and nodes behind NAT are kept and handed on like any other.
    bool probe_port = true;
    // The node warns in its log when the system has dropped datagrams at its sockets (their
    // receive queues full: it fell behind), at most this often.
    Duration overflow_warning_every = std::chrono::minutes(1);
};

struct RuntimeStats {
    std::uint64_t send_errors = 0;  // the socket refused a datagram (buffer full, no route)
    std::uint64_t unsendable = 0;   // an IPv6 destination on an IPv4-only socket
    std::uint64_t receive_errors = 0;
    std::uint64_t truncated = 0;  // datagrams larger than the receive buffer
    // Datagrams the system dropped because the node's receive queue (its sockets') was full: the
    // node fell behind, for want of a CPU or under a flood. Read from the sockets when asked.
    std::uint64_t receive_overflows = 0;
};

struct DiscoveryOptions {
    DiscoveryConfig config;
    std::string group_v4 = "239.192.75.68";  // organization-local scope
    std::string group_v6 = "ff02::4b44";     // link-local scope
    std::uint16_t port = 7475;
    // Interface names; empty: every interface that is up and multicast-capable, and loopback.
    std::vector<std::string> interfaces;
};

struct DiscoveryRuntimeStats {
    std::vector<std::string> interfaces;  // where we joined the group(s): "eth0 (IPv4)", ...
    std::uint64_t send_errors = 0;
    std::uint64_t truncated = 0;  // datagrams larger than the receive buffer
};

boost::asio::ip::udp::endpoint to_asio(const Endpoint& ep);
Endpoint from_asio(const boost::asio::ip::udp::endpoint& ep);

class AsioNode {
public:
    // Binds the socket; throws std::system_error with a message naming the address on failure.
    AsioNode(boost::asio::io_context& io, RuntimeConfig config);
    ~AsioNode();
    AsioNode(const AsioNode&) = delete;
    AsioNode& operator=(const AsioNode&) = delete;

    const NodeId& id() const noexcept { return driver_->node().id(); }
    Endpoint local_endpoint() const;
    // The second port's address (RuntimeConfig::probe_port); unset without one.
    std::optional<Endpoint> probe_endpoint() const;
    boost::asio::io_context& context() noexcept { return io_; }
    // The io_context's executor, for the caller's own I/O beside the node's.
    boost::asio::io_context::executor_type get_executor() const noexcept {
        return io_.get_executor();
    }
    // The node itself, for introspection (routing table, storage, statistics). Use it on the
    // thread that runs the io_context.
    const Node& node() const noexcept { return driver_->node(); }
    // A copy: receive_overflows is read from the sockets each time. On the io_context's thread.
    RuntimeStats runtime_stats() const noexcept;
    bool closed() const noexcept { return closed_; }
    // Called when the node takes a new ID (BEP 42, NodeConfig::derive_id).
    void set_id_observer(Node::IdObserver o) { driver_->node().set_id_observer(std::move(o)); }
    void set_superseded_observer(Node::SupersededObserver o) {
        driver_->node().set_superseded_observer(std::move(o));
    }
    void set_logger(Logger logger) {
        logger_ = std::move(logger);
        driver_->set_logger(logger_);
    }

    // While a scope lives, the operations this node starts are added to its signal, so that
    // signal.emit() cancels them. Scopes nest; the innermost one counts. The signal must outlive
    // the node or be emitted no more once the node is gone (emit() then does nothing).
    class CancelScope {
    public:
        CancelScope(AsioNode& node, CancelSignal& signal)
            : node_(node), outer_(std::exchange(node.scope_, &signal)) {}
        ~CancelScope() { node_.scope_ = outer_; }
        CancelScope(const CancelScope&) = delete;
        CancelScope& operator=(const CancelScope&) = delete;

    private:
        AsioNode& node_;
        CancelSignal* outer_;
    };

    // Cancels every operation in flight (each completes with error "cancelled") and closes the
    // socket and the timer; with discovery on, first multicasts that this node is leaving.
    // Idempotent.
    void close();

    // The node's state for a state file: ID, port, routing contacts, and the items with their
    // remaining lives on the wall clock.
    SavedState snapshot() const;
    // Puts back the items of a saved state (those not expired since). Returns how many. The
    // saved contacts are for the caller to bootstrap from.
    std::size_t restore(const SavedState& state);
    // Writes every change to the stores into `journal` before the store or put that made it is
    // answered (nullptr: stops). If a write fails, the node refuses stores from others (202,
    // naming the file and the error) until journal_recovered(): what it would acknowledge
    // could not be kept. The error is logged once.
    void set_journal(Journal* journal);
    bool journal_failed() const noexcept { return journal_failed_; }
    // The journal failed outside a write (an fsync): the same as a failed write.
    void journal_error(const std::string& what);
    // The journal works again (the caller saved a snapshot and emptied it): stores are taken.
    void journal_recovered();

    // Node::watch: each new version of `key` is handed to `on_event` through the io_context
    // (never inside this call), until unwatch(); none comes after unwatch().
    std::optional<WatchId> watch(std::string key, std::function<void(const WatchEvent&)> on_event);
    bool unwatch(WatchId id);

    // Node::unpublish: stop keeping alive a value or BEP 44 item we published.
    std::optional<TimePoint> unpublish(Node::Store store, const NodeId& target);

    template <class Token>
    auto async_hand_off(Token&& token) {
        return initiate<HandoffResult>(std::forward<Token>(token),
                                       [](Node& n, TimePoint now, Callback<HandoffResult> cb) {
                                           return n.hand_off_all(now, std::move(cb));
                                       });
    }

    // Starts LAN discovery for the address families the RPC socket serves, on port
    // options.port with SO_REUSEPORT (many nodes per host). Throws std::system_error naming
    // what failed when no interface could join the group.
    Discovery& enable_discovery(DiscoveryOptions options);
    Discovery* discovery() noexcept { return driver_->discovery(); }
    const Discovery* discovery() const noexcept { return driver_->discovery(); }
    const DiscoveryRuntimeStats& discovery_runtime_stats() const;

    template <class Token>
    auto async_ping(const Endpoint& to, std::optional<NodeId> id, Token&& token) {
        return initiate<PingResult>(std::forward<Token>(token),
                                    [to, id](Node& n, TimePoint now, Callback<PingResult> cb) {
                                        return n.ping(now, to, id, std::move(cb));
                                    });
    }

    template <class Token>
    auto async_find_node(const Endpoint& to, std::optional<NodeId> id, const NodeId& target,
                         Token&& token) {
        return initiate<FindNodeResult>(
            std::forward<Token>(token),
            [to, id, target](Node& n, TimePoint now, Callback<FindNodeResult> cb) {
                return n.find_node(now, to, id, target, std::move(cb));
            });
    }

    template <class Token>
    auto async_find_value(const Endpoint& to, std::optional<NodeId> id, std::string key,
                          Token&& token) {
        return initiate<FindValueResult>(
            std::forward<Token>(token),
            [to, id, key = std::move(key)](Node& n, TimePoint now, Callback<FindValueResult> cb) {
                return n.find_value(now, to, id, key, std::move(cb));
            });
    }

    template <class Token>
    auto async_store(const Endpoint& to, std::optional<NodeId> id, std::string key,
                     std::string value, PutOptions options, Token&& token) {
        return initiate<StoreRpcResult>(
            std::forward<Token>(token),
            [to, id, key = std::move(key), value = std::move(value), options = std::move(options)](
                Node& n, TimePoint now, Callback<StoreRpcResult> cb) mutable {
                return n.store(now, to, id, std::move(key), std::move(value), options,
                               std::move(cb));
            });
    }

    template <class Token>
    auto async_get_peers(const Endpoint& to, std::optional<NodeId> id, const NodeId& info_hash,
                         Token&& token) {
        return initiate<GetPeersResult>(
            std::forward<Token>(token),
            [to, id, info_hash](Node& n, TimePoint now, Callback<GetPeersResult> cb) {
                return n.get_peers(now, to, id, info_hash, std::move(cb));
            });
    }

    template <class Token>
    auto async_announce_peer(const Endpoint& to, std::optional<NodeId> id, const NodeId& info_hash,
                             std::uint16_t port, Token&& token) {
        return initiate<AnnouncePeerResult>(
            std::forward<Token>(token),
            [to, id, info_hash, port](Node& n, TimePoint now, Callback<AnnouncePeerResult> cb) {
                return n.announce_peer(now, to, id, info_hash, port, std::move(cb));
            });
    }

    template <class Token>
    auto async_sample_infohashes(const Endpoint& to, std::optional<NodeId> id, const NodeId& target,
                                 Token&& token) {
        return initiate<SampleInfohashesResult>(
            std::forward<Token>(token),
            [to, id, target](Node& n, TimePoint now, Callback<SampleInfohashesResult> cb) {
                return n.sample_infohashes(now, to, id, target, std::move(cb));
            });
    }

    template <class Token>
    auto async_find_peers(const NodeId& info_hash, Token&& token) {
        return initiate<FindPeersResult>(
            std::forward<Token>(token),
            [info_hash](Node& n, TimePoint now, Callback<FindPeersResult> cb) {
                return n.find_peers(now, info_hash, std::move(cb));
            });
    }

    template <class Token>
    auto async_announce(const NodeId& info_hash, std::uint16_t port, Token&& token) {
        return initiate<AnnounceResult>(
            std::forward<Token>(token),
            [info_hash, port](Node& n, TimePoint now, Callback<AnnounceResult> cb) {
                return n.announce(now, info_hash, port, std::move(cb));
            });
    }

    // BEP 44 (see Node::get_item, put_item, put_mutable).
    template <class Token>
    auto async_get_item(const NodeId& target, std::string salt, Token&& token) {
        return initiate<ItemGetResult>(
            std::forward<Token>(token),
            [target, salt = std::move(salt)](Node& n, TimePoint now,
                                             Callback<ItemGetResult> cb) mutable {
                return n.get_item(now, target, std::move(salt), std::move(cb));
            });
    }

    template <class Token>
    auto async_put_item(bep44::Item item, Token&& token) {
        return initiate<ItemPutResult>(
            std::forward<Token>(token),
            [item = std::move(item)](Node& n, TimePoint now, Callback<ItemPutResult> cb) mutable {
                return n.put_item(now, std::move(item), std::nullopt, std::move(cb));
            });
    }

    template <class Token>
    auto async_put_mutable(const Ed25519KeyPair& key, std::string salt, std::string value,
                           Token&& token) {
        return initiate<ItemPutResult>(
            std::forward<Token>(token),
            [key, salt = std::move(salt), value = std::move(value)](
                Node& n, TimePoint now, Callback<ItemPutResult> cb) mutable {
                return n.put_mutable(now, key, std::move(salt), std::move(value), std::move(cb));
            });
    }

    template <class Token>
    auto async_lookup(const NodeId& target, Token&& token) {
        return async_lookup(target, Trace{}, std::forward<Token>(token));
    }
    // With a trace: each query of the lookup and its fate, as it happens, on the node's thread.
    template <class Token>
    auto async_lookup(const NodeId& target, Trace trace, Token&& token) {
        return initiate<LookupResult>(
            std::forward<Token>(token),
            [target, trace = std::move(trace)](Node& n, TimePoint now,
                                               Callback<LookupResult> cb) mutable {
                return n.lookup(now, target, std::move(cb), std::move(trace));
            });
    }

    template <class Token>
    auto async_get(std::string key, Token&& token) {
        return async_get(std::move(key), Trace{}, std::forward<Token>(token));
    }
    template <class Token>
    auto async_get(std::string key, Trace trace, Token&& token) {
        return initiate<GetResult>(std::forward<Token>(token),
                                   [key = std::move(key), trace = std::move(trace)](
                                       Node& n, TimePoint now, Callback<GetResult> cb) mutable {
                                       return n.get(now, std::move(key), std::move(cb),
                                                    std::move(trace));
                                   });
    }

    template <class Token>
    auto async_put(std::string key, std::string value, PutOptions options, Token&& token) {
        return initiate<PutResult>(
            std::forward<Token>(token),
            [key = std::move(key), value = std::move(value), options = std::move(options)](
                Node& n, TimePoint now, Callback<PutResult> cb) mutable {
                return n.put(now, std::move(key), std::move(value), std::move(options),
                             std::move(cb));
            });
    }

    template <class Token>
    auto async_bootstrap(std::vector<BootstrapPeer> peers, Token&& token) {
        return initiate<BootstrapResult>(
            std::forward<Token>(token),
            [peers = std::move(peers)](Node& n, TimePoint now,
                                       Callback<BootstrapResult> cb) mutable {
                return n.bootstrap(now, std::move(peers), std::move(cb));
            });
    }

private:
    class SocketTransport;

    // Starts an operation on the node with a callback that hands the result to the token's
    // handler through the handler's executor (never inline).
    template <class Result, class Token, class Start>
    auto initiate(Token&& token, Start start) {
        return boost::asio::async_initiate<Token, void(Result)>(
            [this](auto handler, Start start_op) {
                using Handler = std::decay_t<decltype(handler)>;
                // std::function needs a copyable callable; completion handlers may be move-only.
                auto h = std::make_shared<Handler>(std::move(handler));
                Callback<Result> cb = [this, h](const Result& r) {
                    auto ex = boost::asio::get_associated_executor(*h, io_.get_executor());
                    boost::asio::post(ex, [h, r]() mutable { (*h)(std::move(r)); });
                };
                if (closed_) {
                    Result r;
                    r.fail(Failure::Closed, "closed");
                    cb(r);
                    return;
                }
                const OperationId id = start_op(driver_->node(), Clock::now(), std::move(cb));
                if (scope_) {
                    scope_->cancels_.push_back([this, id, alive = std::weak_ptr<bool>(alive_)] {
                        if (alive.expired() || closed_) return;
                        if (driver_->node().cancel(id)) rearm();
                    });
                }
                rearm();
            },
            token, std::move(start));
    }

    void open_probe_socket();
    // Waits for `socket` to be readable and hands what it reads to the node, again and again.
    void receive(boost::asio::ip::udp::socket& socket);
    // Reads the sockets' drop counts (at most once a second, as datagrams come, so that their
    // 32 bits never wrap unseen) and warns in the log of new drops, at most once every
    // RuntimeConfig::overflow_warning_every.
    void check_overflows(TimePoint now);
    void rearm();
    TimePoint next_timeout() const;

    boost::asio::io_context& io_;
    boost::asio::ip::udp::socket socket_;
    boost::asio::ip::udp::socket probe_socket_;  // the second port; closed without one
    boost::asio::steady_timer timer_;
    TimePoint armed_ = TimePoint::max();
    SystemRandom rng_;
    std::unique_ptr<SocketTransport> transport_;
    // Declared before the driver, so it outlives the discovery that multicasts through it.
    std::unique_ptr<detail::MulticastSockets> mcast_;
    std::unique_ptr<Driver> driver_;  // the node and its discovery
    RuntimeStats rstats_;
    // The system's count of a socket's dropped datagrams is 32 bits and wraps: what
    // check_overflows() read last, and the sum of the steps up to it.
    struct Overflows {
        std::uint32_t seen = 0;
        std::uint64_t total = 0;
    };
    Overflows overflows_, probe_overflows_;
    // check_overflows(): when it looked last, when it may warn next, the total it reported.
    TimePoint overflows_checked_{};
    TimePoint overflow_warning_due_{};
    std::uint64_t overflows_warned_ = 0;
    Duration overflow_warning_every_{};
    bool v6_socket_ = false;
    bool dual_stack_ = false;
    bool closed_ = false;
    bool journal_failed_ = false;
    CancelSignal* scope_ = nullptr;  // CancelScope
    Endpoint bind_;
    Logger logger_;
    // Handlers hold a weak reference: an AsioNode may be destroyed while its io_context runs on.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kad
