#pragma once
// Where a node's datagrams go. The runtime sends on a UDP socket; the simulator queues them; tests
// record them.

#include <string_view>

#include "kad/endpoint.hpp"

namespace kad {

// The datagram is valid only during the call; send() must copy it and must not call into any node
// on this thread (the nodes of a thread share one encode buffer, Rpc::send).
class Transport {
public:
    // The address families send() can reach.
    struct Families {
        bool v4 = true;
        bool v6 = true;
    };

    virtual ~Transport() = default;
    virtual void send(const Endpoint& to, std::string_view datagram) = 0;
    // The second port: sends from another local port of the same address, whose replies come
    // back to the node as any datagram. A node behind NAT (a port-restricted cone, a stateful
    // firewall) receives a datagram only from an endpoint it has sent to, so a node that queried
    // us answers a ping from here only if strangers can reach it too (as a STUN server checks
    // from its second address). Returns false, sending nothing, when there is no second port.
    virtual bool send_probe(const Endpoint& to, std::string_view datagram) {
        (void)to;
        (void)datagram;
        return false;
    }
    virtual bool has_probe_port() const { return false; }
    // Which families send() can reach at all (an IPv4 socket cannot reach IPv6 peers, nor a
    // socket bound to one IPv6 address IPv4 ones). The node's queries ask for contacts of these
    // families (BEP 32 "want").
    virtual Families families() const { return {}; }
    bool can_reach(const Endpoint& to) const {
        const Families f = families();
        return to.is_v6() ? f.v6 : f.v4;
    }
};

}  // namespace kad
