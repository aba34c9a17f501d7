#pragma once
// Where a node's datagrams go. The runtime sends on a UDP socket; the simulator queues them; tests
// record them.

#include <string_view>

#include "kad/endpoint.hpp"

namespace kad {

// The datagram is valid only during the call; send() must copy it and must not call back into
// the node.
class Transport {
public:
    virtual ~Transport() = default;
    virtual void send(const Endpoint& to, std::string_view datagram) = 0;
    // Whether send() can reach this address at all (an IPv4-only socket cannot reach IPv6).
    virtual bool can_reach(const Endpoint&) const { return true; }
};

}  // namespace kad
