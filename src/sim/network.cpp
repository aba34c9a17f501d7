#include "kad/sim/network.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace kad::sim {

namespace {
constexpr std::uint32_t kWake = UINT32_MAX;
constexpr std::uint32_t kInjected = UINT32_MAX - 1;
constexpr int kRejoinAttempts = 8;
// In windows, an event's seq is its origin node (or kInjectedOrigin) above that node's count.
constexpr unsigned kSeqCountBits = 40;
constexpr std::uint64_t kInjectedOrigin = (std::uint64_t{1} << (64 - kSeqCountBits)) - 1;
}  // namespace

class Network::SimTransport final : public Transport {
public:
    SimTransport(Network& net, std::size_t self) : net_(net), self_(self) {}
    void send(const Endpoint& to, std::string_view datagram) override {
        net_.send(self_, to, datagram);
    }
    bool send_probe(const Endpoint& to, std::string_view datagram) override {
        if (!has_probe_port()) return false;
        net_.send(self_, to, datagram, true);
        return true;
    }
    bool has_probe_port() const override;
    // A simulated host has one address, so one family.
    Families families() const override {
        const bool v6 = net_.endpoint(self_).is_v6();
        return {.v4 = !v6, .v6 = v6};
    }

private:
    Network& net_;
    std::size_t self_;
};

class Network::SimMulticast final : public MulticastTransport {
public:
    SimMulticast(Network& net, std::size_t self) : net_(net), self_(self) {}
    void multicast(std::string_view datagram) override { net_.multicast(self_, datagram); }

private:
    Network& net_;
    std::size_t self_;
};

struct Network::SimNode {
    Endpoint endpoint;
    std::unique_ptr<SeededRandom> rng;
    std::unique_ptr<SimTransport> transport;
    std::unique_ptr<SimMulticast> mcast;
    std::unique_ptr<Driver> driver;  // the node and its discovery
    State state = State::Alive;
    int group = 0;
    std::optional<LinkModel> model;
    TimePoint wake_at = TimePoint::max();  // the earliest wake-up queued
    NodeConfig config;
    NodeId id;
    bool crashed = false;
    // The node's clock is the network's plus `skew` (suspend() and leap() move it).
    Duration skew{};
    bool clock_stopped = false;  // suspended: its clock stands still
    TimePoint suspended_at{};
    TimePoint local(TimePoint world) const { return (clock_stopped ? suspended_at : world) + skew; }
    // What its state directory would hold (persist()).
    struct Disk {
        std::map<NodeId, StoredItem> values, items;
        std::vector<krpc::NodeInfo> contacts;
    };
    std::unique_ptr<Disk> disk;
    bool probe_port = false;  // its second port is its endpoint's port + 1 (probe_endpoint())
    // Behind NAT: when it last sent to each endpoint from each of its ports (nat_key), the
    // mappings still open or not yet swept; `nat_sweep_at` is the size at which expired ones are
    // next swept out.
    bool nat = false;
    std::unordered_map<std::uint32_t, TimePoint> nat_sent;
    std::size_t nat_sweep_at = 64;
    // In windows: its datagrams' loss and jitter, its count of events made and of defer()s.
    std::unique_ptr<SeededRandom> link_rng;
    std::uint64_t events_made = 0;
    std::uint64_t deferred = 0;
    std::uint32_t part = 0;  // its partition (set_threads())
};

std::size_t Network::part_index(std::size_t node) const {
    return nodes_[node]->part;
}

bool Network::SimTransport::has_probe_port() const {
    return net_.probe_ports_ && net_.nodes_[self_]->probe_port;
}

Network::Network(std::uint64_t seed, LinkModel model) : seed_(seed), model_(model), rng_(seed) {
    parts_.push_back(std::make_unique<Partition>());
}

Network::~Network() {
    stopping_.store(true);
    window_gen_.fetch_add(1);
    window_gen_.notify_all();
    for (auto& t : workers_) t.join();
}

std::uint64_t Network::next_seq(std::size_t origin) {
    if (!windows_) return next_seq_++;
    const std::uint64_t count =
        origin == kInjectedOrigin ? injected_++ : nodes_[origin]->events_made++;
    return (static_cast<std::uint64_t>(origin) << kSeqCountBits) | count;
}

void Network::set_now(TimePoint t) {
    now_ = t;
    for (auto& p : parts_) p->now = t;
}

NetworkStats Network::stats() const {
    NetworkStats sum;
    for (const auto& p : parts_) {
        const NetworkStats& s = p->stats;
        sum.sent += s.sent;
        sum.delivered += s.delivered;
        sum.lost += s.lost;
        sum.dropped_dead += s.dropped_dead;
        sum.dropped_partition += s.dropped_partition;
        sum.events += s.events;
        sum.duplicated += s.duplicated;
        sum.restarts += s.restarts;
        sum.multicast_sent += s.multicast_sent;
        sum.multicast_delivered += s.multicast_delivered;
        sum.dropped_nat += s.dropped_nat;
    }
    return sum;
}

void Network::defer(std::size_t i, std::function<void()> f) {
    if (!windows_) return f();
    SimNode& n = *nodes_[i];
    Partition& part = part_of(i);
    part.deferred.push_back({part.now, static_cast<std::uint32_t>(i), n.deferred++, std::move(f)});
}

std::size_t Network::add_node(const NodeConfig& config, std::optional<NodeId> id,
                              std::optional<Endpoint> address) {
    const std::size_t i = nodes_.size();
    auto n = std::make_unique<SimNode>();
    // 10.0.0.1, 10.0.0.2, ...: unique, private, never unusable.
    const std::uint32_t host = static_cast<std::uint32_t>(i + 1);
    n->endpoint =
        Endpoint::v4({10, static_cast<std::uint8_t>(host >> 16),
                      static_cast<std::uint8_t>(host >> 8), static_cast<std::uint8_t>(host)},
                     6881);
    if (address) n->endpoint = *address;
    // Two nodes at one address would split the traffic between find_endpoint()'s two ways of
    // finding it (and past 2^24 nodes the default addresses would come round again).
    if (by_endpoint_.contains(n->endpoint) || host >= (1U << 24)) {
        throw std::invalid_argument("sim::Network: address " + n->endpoint.to_string() +
                                    " already taken");
    }
    n->rng = std::make_unique<SeededRandom>(seed_ * 0x9e3779b97f4a7c15ULL + i + 1);
    if (windows_) n->link_rng = std::make_unique<SeededRandom>(mix64(seed_ ^ mix64(i + 1)));
    n->transport = std::make_unique<SimTransport>(*this, i);
    const NodeId nid = id ? *id : NodeId::random(rng_);
    n->mcast = std::make_unique<SimMulticast>(*this, i);
    n->driver = std::make_unique<Driver>(config, nid, *n->transport, *n->rng, n->local(now_));
    n->config = config;
    n->id = nid;
    by_endpoint_[n->endpoint] = i;
    // A node's own endpoint is no one's second port.
    if (auto taken = by_probe_endpoint_.find(n->endpoint); taken != by_probe_endpoint_.end()) {
        nodes_[taken->second]->probe_port = false;
        by_probe_endpoint_.erase(taken);
    }
    const Endpoint probe =
        n->endpoint.with_port(static_cast<std::uint16_t>(n->endpoint.port() + 1));
    if (!by_endpoint_.contains(probe) && by_probe_endpoint_.emplace(probe, i).second) {
        n->probe_port = true;
    }
    nodes_.push_back(std::move(n));
    if (add_hook_) add_hook_(i);
    if (windows_) {  // its partition: the first for a fast link, else the one with fewest nodes
        std::size_t p = 0;
        if (!fast_link_ || !fast_link_(i)) {
            // The first holds fast links only (paths between two of them may be shorter than a
            // window), and without them stays empty: the others are an even share a thread.
            const auto from = part_nodes_.begin() + (part_nodes_.size() > 1 ? 1 : 0);
            p = static_cast<std::size_t>(std::min_element(from, part_nodes_.end()) -
                                         part_nodes_.begin());
        }
        nodes_[i]->part = static_cast<std::uint32_t>(p);
        ++part_nodes_[p];
        homes_stale_ = true;
    }
    schedule_wake(i);
    return i;
}

Node& Network::node(std::size_t i) {
    return nodes_[i]->driver->node();
}

const Endpoint& Network::endpoint(std::size_t i) const {
    return nodes_[i]->endpoint;
}

bool Network::alive(std::size_t i) const {
    return nodes_[i]->state == State::Alive;
}

bool Network::dead(std::size_t i) const {
    return nodes_[i]->state == State::Dead;
}

void Network::persist(std::size_t i) {
    SimNode& n = *nodes_[i];
    if (!n.disk) n.disk = std::make_unique<SimNode::Disk>();
    SimNode::Disk* disk = n.disk.get();
    Node& node = n.driver->node();
    node.set_store_observer(
        [disk](Node::Store store, const NodeId& target, const StoredItem* item) {
            auto& map = store == Node::Store::Values ? disk->values : disk->items;
            if (item) {
                map.insert_or_assign(target, *item);
            } else {
                map.erase(target);
            }
        });
    node.set_new_contact_observer([disk](const NodeId& id, const Endpoint& at) {
        for (const auto& c : disk->contacts) {
            if (c.id == id) return;
        }
        disk->contacts.push_back({id, at});
    });
    // What the first snapshot holds: the table and the stores as they are now.
    for (const Contact* c : node.routing_table().all()) {
        const bool known = std::any_of(disk->contacts.begin(), disk->contacts.end(),
                                       [&](const krpc::NodeInfo& k) { return k.id == c->id; });
        if (!known) disk->contacts.push_back({c->id, c->endpoint});
    }
    for (const auto& [target, item] : node.storage().items()) disk->values[target] = item;
    for (const auto& [target, item] : node.item_store().items()) disk->items[target] = item;
}

void Network::rejoin(std::size_t i, const std::vector<BootstrapPeer>& peers, int attempts_left) {
    if (peers.empty() || attempts_left == 0) return;
    Node* node = &nodes_[i]->driver->node();
    // As kadnode does after a restart: through the saved contacts, again while none answers.
    // (A crash destroys the node with its operations: this callback then never runs.)
    node->bootstrap(nodes_[i]->local(part_of(i).now), peers,
                    [this, i, peers, attempts_left](const BootstrapResult& r) {
                        if (!r.ok) rejoin(i, peers, attempts_left - 1);
                    });
}

void Network::crash(std::size_t i) {
    nodes_[i]->state = State::Dead;
    nodes_[i]->crashed = true;
}

bool Network::crashed(std::size_t i) const {
    return nodes_[i]->crashed;
}

void Network::restart(std::size_t i) {
    SimNode& n = *nodes_[i];
    if (!n.crashed) return;
    n.crashed = false;
    n.state = State::Alive;
    if (n.clock_stopped) {  // crashed while suspended: the host woke to restart it
        n.skew -= now_ - n.suspended_at;
        n.clock_stopped = false;
    }
    n.wake_at = TimePoint::max();
    ++parts_[0]->stats.restarts;
    n.rng = std::make_unique<SeededRandom>(rng_.next_u64());
    n.driver = std::make_unique<Driver>(n.config, n.id, *n.transport, *n.rng, n.local(now_));
    if (n.disk) {
        Node& node = n.driver->node();
        for (const auto& [target, item] : n.disk->values) node.restore(item);
        for (const auto& [target, item] : n.disk->items) node.restore_item(item);
        // What the restored store holds is its state now (an expired item is not restored).
        auto disk = std::move(n.disk);
        persist(i);
        n.disk->contacts = disk->contacts;
        std::vector<BootstrapPeer> peers;
        for (const auto& c : disk->contacts) peers.push_back({c.endpoint, c.id});
        rejoin(i, peers, kRejoinAttempts);
    }
    schedule_wake(i);
}

void Network::set_fast_link(std::function<bool(std::size_t)> f) {
    // The nodes already in partitions were placed without it.
    if (windows_ && !nodes_.empty()) {
        throw std::logic_error("sim::Network::set_fast_link: before the nodes, with threads");
    }
    fast_link_ = std::move(f);
}

void Network::set_tap(Tap tap) {
    if (windows_) throw std::logic_error("sim::Network::set_tap: not with set_threads()");
    tap_ = std::move(tap);
}

void Network::set_group(std::size_t i, int group) {
    nodes_[i]->group = group;
}

void Network::heal() {
    for (auto& n : nodes_) n->group = 0;
}

void Network::set_node_model(std::size_t i, std::optional<LinkModel> m) {
    nodes_[i]->model = m;
    if (m) min_node_latency_ = std::min(min_node_latency_, m->latency);
}

void Network::set_nat(std::size_t i, bool behind_nat) {
    nodes_[i]->nat = behind_nat;
    if (!behind_nat) nodes_[i]->nat_sent.clear();
}

bool Network::behind_nat(std::size_t i) const {
    return nodes_[i]->nat;
}

bool Network::nat_admits(const SimNode& to, std::uint32_t key, TimePoint now) const {
    auto it = to.nat_sent.find(key);
    return it != to.nat_sent.end() && now - it->second <= nat_timeout_;
}

std::optional<Endpoint> Network::probe_endpoint(std::size_t i) const {
    const SimNode& n = *nodes_[i];
    if (!n.probe_port) return std::nullopt;
    return n.endpoint.with_port(static_cast<std::uint16_t>(n.endpoint.port() + 1));
}

std::optional<std::size_t> Network::index_of(const Endpoint& ep) const {
    const auto found = find_endpoint(ep);
    if (!found || found->second) return std::nullopt;
    return found->first;
}

std::optional<std::pair<std::size_t, bool>> Network::find_endpoint(const Endpoint& to) const {
    // The address add_node() gives node i is 10.0.0.0 + i + 1: read it back, and check that the
    // node there has it (or that port's second port), before the maps, which cost two cache
    // misses a datagram at 100,000 nodes.
    const auto& a = to.address_bytes();
    if (to.is_v4() && a[0] == 10) {
        const std::size_t host = (std::size_t{a[1]} << 16) | (std::size_t{a[2]} << 8) | a[3];
        if (host >= 1 && host <= nodes_.size()) {
            if (nodes_[host - 1]->endpoint == to) return std::pair{host - 1, false};
            if (probe_endpoint(host - 1) == to) return std::pair{host - 1, true};
        }
    }
    if (auto it = by_endpoint_.find(to); it != by_endpoint_.end())
        return std::pair{it->second, false};
    if (auto p = by_probe_endpoint_.find(to); p != by_probe_endpoint_.end()) {
        return std::pair{p->second, true};
    }
    return std::nullopt;
}

void Network::with(std::size_t i, const std::function<void(Node&, TimePoint)>& f) {
    f(nodes_[i]->driver->node(), nodes_[i]->local(now_));
    schedule_wake(i);
}

Discovery& Network::enable_discovery(std::size_t i, DiscoveryConfig config) {
    SimNode& n = *nodes_[i];
    Discovery& d =
        n.driver->enable_discovery(std::move(config), n.endpoint.port(), *n.mcast, n.local(now_));
    n.wake_at = TimePoint::max();
    schedule_wake(i);
    return d;
}

Discovery* Network::discovery(std::size_t i) {
    return nodes_[i]->driver->discovery();
}

void Network::kill(std::size_t i) {
    nodes_[i]->state = State::Dead;
}

void Network::stop(std::size_t i) {
    SimNode& n = *nodes_[i];
    if (n.state == State::Alive) n.driver->leave(n.local(now_));
    n.state = State::Dead;
}

void Network::pause(std::size_t i) {
    if (nodes_[i]->state == State::Alive) nodes_[i]->state = State::Paused;
}

void Network::resume(std::size_t i) {
    SimNode& n = *nodes_[i];
    if (n.state != State::Paused) return;
    n.state = State::Alive;
    if (n.clock_stopped) {
        n.skew -= now_ - n.suspended_at;
        n.clock_stopped = false;
    }
    n.wake_at = TimePoint::max();
    schedule_wake(i);
}

void Network::suspend(std::size_t i) {
    SimNode& n = *nodes_[i];
    if (n.state != State::Alive) return;
    n.state = State::Paused;
    n.clock_stopped = true;
    n.suspended_at = now_;
}

void Network::leap(std::size_t i, Duration d) {
    SimNode& n = *nodes_[i];
    if (d <= Duration::zero()) return;  // a monotonic clock never goes back
    n.skew += d;
    n.wake_at = TimePoint::max();
    schedule_wake(i);
}

TimePoint Network::local_time(std::size_t i) const {
    return nodes_[i]->local(now_);
}

void Network::schedule_wake(std::size_t i) {
    SimNode& n = *nodes_[i];
    if (n.state != State::Alive) return;
    const TimePoint local = n.driver->next_timeout();
    if (local == TimePoint::max()) return;
    TimePoint t = local - n.skew;  // on the network's clock
    if (t >= n.wake_at) return;
    Partition& part = part_of(i);
    if (t < part.now) t = part.now;
    n.wake_at = t;
    part.queue.push(Event{t, next_seq(i), static_cast<std::uint32_t>(i), kWake, 0});
}

void Network::push(Partition& part, const Event& ev, std::string_view data,
                   const Endpoint& source) {
    Event e = ev;
    e.payload = part.take_payload();
    part.payloads[e.payload].data.assign(data);  // into the buffer a delivered datagram left
    part.payloads[e.payload].source = source;
    part.queue.push(e);
}

void Network::push_delivery(TimePoint at, std::size_t node, std::uint32_t from,
                            std::string_view data, bool multicast, const Endpoint& source,
                            bool probe, bool to_probe) {
    const Event ev{at,
                   next_seq(from == kInjected ? kInjectedOrigin : from),
                   static_cast<std::uint32_t>(node),
                   from,
                   0,
                   multicast,
                   probe,
                   to_probe};
    const std::size_t to = part_index(node);
    if (!in_window_ || from == kInjected || part_index(from) == to) {
        return push(*parts_[to], ev, data, source);
    }
    // To another partition's node, in a window: through the outbox it drains in the next one. It
    // must arrive after this window, or the windows are too long for the delays (a model not
    // placed before the nodes were, a delay below set_min_path_delay()'s floor).
    if (at < window_end_ || (at == window_end_ && window_inclusive_)) {
        throw std::logic_error("sim::Network: a datagram between partitions within a window");
    }
    const std::size_t p = part_index(from);
    Outbox& box = outboxes_[window_count_ % 2][p * parts_.size() + to];
    if (box.used == box.items.size()) box.items.emplace_back();
    Crossing& c = box.items[box.used++];
    c.ev = ev;
    c.data.assign(data);
    c.source = source;
    Partition& part = *parts_[p];
    part.crossing_min = std::min(part.crossing_min, at);
}

void Network::inject(std::size_t i, const Endpoint& from, std::string_view payload, TimePoint at) {
    const LinkModel& m = nodes_[i]->model ? *nodes_[i]->model : model_;
    push_delivery(std::max(at, now_ + delay(m, rng_)), i, kInjected, payload, false, from);
}

void Network::send(std::size_t from, const Endpoint& to, std::string_view data, bool probe) {
    Partition& part = part_of(from);
    const TimePoint now = part.now;
    ++part.stats.sent;
    if (tap_) tap_(from, to, data);
    const auto found = find_endpoint(to);
    if (!found) {
        ++part.stats.dropped_dead;  // nobody there
        return;
    }
    const auto [dest, to_probe] = *found;  // to_probe: to the destination's second port
    SimNode& src = *nodes_[from];
    if (src.nat) {  // the mapping opens, or stays open; expired ones are swept now and then
        src.nat_sent[nat_key(dest, to_probe, probe)] = now;
        if (src.nat_sent.size() >= src.nat_sweep_at) {
            std::erase_if(src.nat_sent,
                          [&](const auto& e) { return now - e.second > nat_timeout_; });
            src.nat_sweep_at = std::max<std::size_t>(64, 2 * src.nat_sent.size());
        }
    }
    // Filtered as it is sent: the mapping times out in seconds, the datagram flies in ms. (In
    // windows, as it arrives: the mappings belong to the receiver's partition.)
    if (!windows_ && nodes_[dest]->nat &&
        !nat_admits(*nodes_[dest], nat_key(from, probe, to_probe), now)) {
        ++part.stats.dropped_nat;
        return;
    }
    RandomSource& rng = windows_ ? *src.link_rng : rng_;
    const LinkModel& m = nodes_[dest]->model ? *nodes_[dest]->model : model_;
    if (m.loss > 0 && rng.chance(m.loss)) {
        ++part.stats.lost;
        return;
    }
    // A probe's source is the second port as it is now (a later node may take that endpoint).
    const Endpoint source = probe ? *probe_endpoint(from) : Endpoint{};
    push_delivery(now + delay(m, from, dest, rng), dest, static_cast<std::uint32_t>(from), data,
                  false, source, probe, to_probe);
    if (m.duplicate > 0 && rng.chance(m.duplicate)) {
        ++part.stats.duplicated;
        push_delivery(now + delay(m, from, dest, rng), dest, static_cast<std::uint32_t>(from), data,
                      false, source, probe, to_probe);
    }
}

Duration Network::delay(const LinkModel& m, RandomSource& rng) {
    Duration d = m.latency;
    if (m.jitter > Duration::zero()) {
        d += Duration(static_cast<Duration::rep>(
            rng.uniform(static_cast<std::uint64_t>(m.jitter.count()) + 1)));
    }
    return d;
}

Duration Network::delay(const LinkModel& m, std::size_t from, std::size_t to, RandomSource& rng) {
    if (!path_delay_ || &m != &model_) return delay(m, rng);
    LinkModel path = m;
    path.latency = path_delay_(from, to);
    return delay(path, rng);
}

void Network::multicast(std::size_t from, std::string_view data) {
    if (windows_) throw std::logic_error("sim::Network: no multicast with set_threads()");
    Partition& part = *parts_[0];
    ++part.stats.multicast_sent;
    for (std::size_t j = 0; j < nodes_.size(); ++j) {
        if (!nodes_[j]->driver->discovery()) continue;
        const LinkModel& m = nodes_[j]->model ? *nodes_[j]->model : model_;
        if (m.loss > 0 && rng_.chance(m.loss)) {
            ++part.stats.lost;
            continue;
        }
        push_delivery(now_ + delay(m, rng_), j, static_cast<std::uint32_t>(from), data, true);
    }
}

void Network::handle(Partition& part, const Event& ev) {
    ++part.stats.events;
    SimNode& n = *nodes_[ev.node];
    Endpoint source{};
    if (ev.from != kWake) {
        // Out of its slot before the node runs: what it sends may take the slot (or grow
        // payloads). The slot keeps the previous datagram's buffer for the next one.
        std::swap(part.delivering, part.payloads[ev.payload].data);
        source = part.payloads[ev.payload].source;
        part.free_payloads.push_back(ev.payload);
    }
    const std::string_view payload = part.delivering;
    const TimePoint now = part.now;
    if (ev.from == kWake) {
        if (ev.at != n.wake_at) return;  // superseded by an earlier wake-up
        n.wake_at = TimePoint::max();
        if (n.state == State::Alive) n.driver->handle_timeout(n.local(now));
    } else if (ev.from == kInjected) {
        if (n.state == State::Alive) {
            ++part.stats.delivered;
            n.driver->handle_datagram(n.local(now), source, payload);
        } else {
            ++part.stats.dropped_dead;
        }
    } else {
        const SimNode& sender = *nodes_[ev.from];
        if (n.state != State::Alive) {
            ++part.stats.dropped_dead;
            return;
        }
        if (sender.group != n.group) {
            ++part.stats.dropped_partition;
            return;
        }
        if (windows_ && n.nat && !ev.multicast &&
            !nat_admits(n, nat_key(ev.from, ev.probe, ev.to_probe), now)) {
            ++part.stats.dropped_nat;
            return;
        }
        if (ev.multicast) {
            ++part.stats.multicast_delivered;
            const Endpoint src = *Endpoint::from_address(sender.endpoint.address_string(), 7475);
            n.driver->handle_multicast(n.local(now), src, payload);
        } else {
            ++part.stats.delivered;
            n.driver->handle_datagram(n.local(now), ev.probe ? source : sender.endpoint, payload,
                                      ev.to_probe);
        }
    }
    schedule_wake(ev.node);
}

bool Network::step(TimePoint until) {
    Partition& part = *parts_[0];
    if (part.queue.empty() || part.queue.top().at > until) return false;
    const Event ev = part.queue.top();
    part.queue.pop();
    set_now(ev.at);
    handle(part, ev);
    return true;
}

void Network::run_until(TimePoint until) {
    if (windows_) {
        run_windows(until, nullptr);
        return;
    }
    while (step(until)) {
    }
    if (until > now_) set_now(until);
}

bool Network::run_until(const std::function<bool()>& pred, Duration limit) {
    const TimePoint until = now_ + limit;
    if (windows_) return run_windows(until, &pred);
    while (!pred()) {
        if (!step(until)) {
            if (until > now_) set_now(until);
            return pred();
        }
    }
    return true;
}

// A public signature (kad/sim/network.hpp) whose durations have defaults most callers keep.
std::vector<std::size_t> grow(Network& net, std::size_t n, const NodeConfig& config,
                              // NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
                              Duration spacing, Duration limit) {
    constexpr int kAttempts = 5;
    // Shared with the bootstrap callbacks, which may outlive this call if `limit` passes.
    struct State {
        std::vector<std::size_t> members;
        std::vector<bool> joined;
        std::size_t pending = 0;
        std::function<void(std::size_t, int)> join;
    };
    auto st = std::make_shared<State>();
    for (std::size_t i = 0; i < net.size(); ++i) {
        if (net.alive(i)) st->members.push_back(i);
    }
    st->joined.assign(net.size() + n, false);
    st->join = [&net, raw = st.get()](std::size_t i, int attempt) {
        std::size_t via = raw->members[net.rng().uniform(raw->members.size())];
        // A node behind NAT is nobody's bootstrap peer: no one can reach it unasked.
        for (int t = 0; t < 16 && net.behind_nat(via); ++t) {
            via = raw->members[net.rng().uniform(raw->members.size())];
        }
        net.with(i, [&net, raw, i, via, attempt](Node& node, TimePoint now) {
            node.bootstrap(now, {{net.endpoint(via), net.node(via).id()}},
                           [&net, raw, i, attempt](const BootstrapResult& r) {
                               // The members, the count and the network's rng are shared.
                               net.defer(i, [raw, i, attempt, ok = r.ok] {
                                   if (!raw->join) return;  // grow() has returned
                                   if (ok) {
                                       raw->members.push_back(i);
                                       raw->joined[i] = true;
                                       --raw->pending;
                                   } else if (attempt + 1 < kAttempts) {
                                       raw->join(i, attempt + 1);
                                   } else {
                                       --raw->pending;
                                   }
                               });
                           });
        });
    };
    std::vector<std::size_t> added;
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = net.add_node(config);
        added.push_back(i);
        if (st->members.empty()) {
            st->members.push_back(i);  // the seed
            st->joined[i] = true;
            continue;
        }
        ++st->pending;
        st->join(i, 0);
        net.run_for(spacing);
    }
    net.run_until([&] { return st->pending == 0; }, limit);
    std::vector<std::size_t> joined;
    for (std::size_t i : added) {
        if (st->joined[i]) joined.push_back(i);
    }
    st->join = nullptr;
    // Callbacks still pending hold a raw pointer: keep the state alive as long as the network.
    net.keep_alive(st);
    return joined;
}

}  // namespace kad::sim
