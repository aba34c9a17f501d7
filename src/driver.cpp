#include "kad/driver.hpp"

#include <algorithm>
#include <stdexcept>

namespace kad {

Driver::Driver(NodeConfig config, const NodeId& id, Transport& transport, RandomSource& rng,
               TimePoint now)
    : rng_(rng), node_(std::make_unique<Node>(std::move(config), id, transport, rng, now)) {}

Driver::~Driver() = default;

Discovery& Driver::enable_discovery(DiscoveryConfig config, std::uint16_t rpc_port,
                                    MulticastTransport& multicast, TimePoint now) {
    if (discovery_) throw std::logic_error("discovery is already on");
    discovery_ =
        std::make_unique<Discovery>(std::move(config), *node_, rpc_port, multicast, rng_, now);
    Discovery* d = discovery_.get();
    node_->set_contact_observer(
        [d](TimePoint when, const NodeId& id, const Endpoint&) { d->heard_from(when, id); });
    return *d;
}

void Driver::handle_datagram(TimePoint now, const Endpoint& from, std::string_view datagram,
                             bool at_probe_port) {
    node_->handle_datagram(now, from, datagram, at_probe_port);
}

void Driver::handle_multicast(TimePoint now, const Endpoint& from, std::string_view datagram) {
    if (discovery_) discovery_->handle_datagram(now, from, datagram);
}

void Driver::handle_timeout(TimePoint now) {
    node_->handle_timeout(now);
    if (discovery_) discovery_->handle_timeout(now);
}

TimePoint Driver::next_timeout() const {
    const TimePoint t = node_->next_timeout();
    return discovery_ ? std::min(t, discovery_->next_timeout()) : t;
}

void Driver::leave(TimePoint now) {
    if (discovery_) discovery_->leave(now);
}

void Driver::set_logger(const Logger& logger) {
    node_->set_logger(logger);
    if (discovery_) discovery_->set_logger(logger);
}

}  // namespace kad
