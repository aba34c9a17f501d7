#pragma once
// A node and, when it is on, its LAN discovery, driven as one. The Boost.Asio runtime
// (kad::AsioNode) and the simulator (kad::sim::Network) both hand a Driver their datagrams and
// wake-ups, so the pairing of the two is written once: discovery hears of every peer the node
// hears from (a query or a reply keeps a LAN peer in view), and one next_timeout() covers both.
// Sans-I/O like the node; single-threaded.

#include <cstdint>
#include <memory>
#include <string_view>

#include "kad/discovery.hpp"
#include "kad/node.hpp"

namespace kad {

class Driver {
public:
    Driver(NodeConfig config, const NodeId& id, Transport& transport, RandomSource& rng,
           TimePoint now);
    ~Driver();
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    Node& node() noexcept { return *node_; }
    const Node& node() const noexcept { return *node_; }

    // Turns LAN discovery on (once; std::logic_error after that): announcements advertise
    // `rpc_port`, multicasts go out through `multicast`, which must outlive the driver.
    Discovery& enable_discovery(DiscoveryConfig config, std::uint16_t rpc_port,
                                MulticastTransport& multicast, TimePoint now);
    Discovery* discovery() noexcept { return discovery_.get(); }
    const Discovery* discovery() const noexcept { return discovery_.get(); }

    // A datagram to the node's own socket (or its second port: Node::handle_datagram).
    void handle_datagram(TimePoint now, const Endpoint& from, std::string_view datagram,
                         bool at_probe_port = false);
    // A datagram to the discovery group; ignored while discovery is off.
    void handle_multicast(TimePoint now, const Endpoint& from, std::string_view datagram);
    void handle_timeout(TimePoint now);
    TimePoint next_timeout() const;
    // A clean stop: discovery tells the LAN we are leaving. The caller stops driving after it.
    void leave(TimePoint now);

    void set_logger(const Logger& logger);

private:
    RandomSource& rng_;
    std::unique_ptr<Node> node_;
    std::unique_ptr<Discovery> discovery_;
};

}  // namespace kad
