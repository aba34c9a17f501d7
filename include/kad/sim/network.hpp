#pragma once
// A deterministic in-memory network for kad::Node, with a virtual clock.
//
// Each node gets an address 10.x.y.z:6881, a second port at the next port number (the node's
// Transport::send_probe), and its own seeded random source. Datagrams are
// queued with a per-link latency (base + uniform jitter), may be lost at a given rate, and are
// dropped across partitions and to dead or paused nodes. The network advances virtual time to
// the next event (a delivery or a node's next_timeout()), so a run is fast, needs no sleep, and
// is the same for the same seed and the same calls.
//
// set_threads() runs it on several threads instead (kadsim at 100,000 nodes): the nodes are
// split among them, and time advances in windows shorter than the least one-way delay, so that
// nothing a node sends in a window arrives in it. Each thread runs its nodes' events of a window
// in order; the datagrams between threads are handed over at the window's end. Callbacks that
// touch state shared between nodes go through defer(). The results do not depend on the number
// of threads (docs/ARCHITECTURE.md, "The simulator on several threads").

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kad/discovery.hpp"
#include "kad/driver.hpp"
#include "kad/node.hpp"
#include "kad/random.hpp"
#include "kad/sim/event_queue.hpp"

namespace kad::sim {

struct LinkModel {
    Duration latency = std::chrono::milliseconds(1);  // one way
    Duration jitter = Duration::zero();               // added uniformly in [0, jitter]
    double loss = 0.0;                                // probability a datagram is lost
    // Probability a datagram is delivered twice (the copy with its own delay: with jitter, the
    // two may arrive in either order, and after later datagrams).
    double duplicate = 0.0;
};

struct NetworkStats {
    std::uint64_t sent = 0, delivered = 0, lost = 0, dropped_dead = 0, dropped_partition = 0;
    std::uint64_t events = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t restarts = 0;
    std::uint64_t multicast_sent = 0;  // datagrams multicast (each reaches many nodes)
    std::uint64_t multicast_delivered = 0;
    std::uint64_t dropped_nat = 0;  // unsolicited datagrams to a node behind NAT
};

class Network {
public:
    explicit Network(std::uint64_t seed, LinkModel model = {});
    ~Network();
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    TimePoint now() const noexcept { return now_; }
    // Elapsed virtual time since the start.
    Duration elapsed() const noexcept { return now_ - TimePoint{}; }

    // Adds a live node; its ID is random (from the network's seed) unless given, and its address
    // 10.x.y.z:6881 unless given. An address already taken throws std::invalid_argument (as
    // does a 2^24th node with the default address).
    std::size_t add_node(const NodeConfig& config = {}, std::optional<NodeId> id = std::nullopt,
                         std::optional<Endpoint> address = std::nullopt);
    std::size_t size() const noexcept { return nodes_.size(); }
    Node& node(std::size_t i);
    const Endpoint& endpoint(std::size_t i) const;
    // Its second port, where its probes come from (none if another node holds that endpoint).
    std::optional<Endpoint> probe_endpoint(std::size_t i) const;
    // Off: no node sends from its second port (as kadnode --no-probe-port), so a node behind
    // NAT that queries another answers its verification ping and enters its table.
    void set_probe_ports(bool on) { probe_ports_ = on; }
    std::optional<std::size_t> index_of(const Endpoint& ep) const;

    // Calls f(node, now) and then schedules the node's next wake-up. Use it to start operations.
    void with(std::size_t i, const std::function<void(Node&, TimePoint)>& f);

    // Gives node i LAN discovery. Its multicasts reach every node with discovery in its group
    // (itself too, as with multicast loop), from its address and port 7475.
    Discovery& enable_discovery(std::size_t i, DiscoveryConfig config = {});
    Discovery* discovery(std::size_t i);

    void kill(std::size_t i);   // gone for good: no delivery, no timers
    void stop(std::size_t i);   // a clean stop: discovery multicasts its leave, then kill
    void pause(std::size_t i);  // stops: datagrams to it are lost, its timers wait
    void resume(std::size_t i);
    // Clocks. Each node reads its own: the network's plus a skew, 0 until one of these moves it.
    // suspend(): as pause(), but the node's clock stands still until resume() (a host suspended
    // and woken: the monotonic clock does not count the sleep), so it comes back behind the
    // others. leap(): its clock jumps ahead by d (a clock that counts the sleep, a stalled VM
    // catching up): every timer due in between is due at once. A restarted node keeps its clock.
    void suspend(std::size_t i);
    void leap(std::size_t i, Duration d);
    TimePoint local_time(std::size_t i) const;  // node i's clock now
    bool alive(std::size_t i) const;
    bool dead(std::size_t i) const;

    // Crashes and restarts, as a process with --state-dir: with persist() on, node i keeps what
    // kadnode's journal keeps (every change to its stores and every new contact, as it happens),
    // and restart() brings it back at its address with its ID and that state, all else lost —
    // transactions, operations in flight (their callbacks never run), routing table, timers —
    // and bootstraps it through its saved contacts (up to 8 times while none answers). A
    // restarted node has no LAN discovery, logger or observers: set them again. A node never
    // persisted comes back empty and alone.
    void persist(std::size_t i);
    void crash(std::size_t i);  // as kill(), but restart() may bring it back
    void restart(std::size_t i);
    bool crashed(std::size_t i) const;
    // Nodes in different groups cannot reach each other. All start in group 0.
    void set_group(std::size_t i, int group);
    void heal();
    void set_model(const LinkModel& m) { model_ = m; }
    // A per-destination override, e.g. a slow or lossy node.
    void set_node_model(std::size_t i, std::optional<LinkModel> m);
    // A per-pair one-way delay (before the model's jitter) in place of the model's latency,
    // e.g. from InternetModel. A per-destination override keeps its own latency.
    using PathDelay = std::function<Duration(std::size_t from, std::size_t to)>;
    void set_path_delay(PathDelay f) { path_delay_ = std::move(f); }
    // A floor under the path delay between two different nodes (for set_threads()' windows):
    // the caller promises that path_delay never returns less for from != to, unless both are
    // on fast links (below), whose paths may be shorter.
    void set_min_path_delay(Duration d) { min_path_delay_ = d; }
    // Nodes on fast links (asked as each is added): set_threads() keeps them all on the calling
    // thread, so that the paths between them need not bound the windows.
    void set_fast_link(std::function<bool(std::size_t)> f);
    // NAT (a port-restricted cone NAT, or a stateful firewall): a node behind it receives a
    // unicast datagram on one of its ports from an endpoint (a node's port) only if it has sent
    // from that port to that endpoint within the timeout; everything else is dropped
    // (stats().dropped_nat). So it can answer a ping from a node it queried, but not one from
    // that node's second port. Its own datagrams go out as usual. inject() and multicast are not
    // filtered.
    void set_nat(std::size_t i, bool behind_nat);
    bool behind_nat(std::size_t i) const;
    void set_nat_timeout(Duration d) { nat_timeout_ = d; }
    // Runs for every node added from now on (after it is created, before it runs).
    void set_add_hook(std::function<void(std::size_t)> f) { add_hook_ = std::move(f); }

    // Processes events in time order until `until` (inclusive); then now() == until.
    void run_until(TimePoint until);
    void run_for(Duration d) { run_until(now_ + d); }
    // Runs until pred() is true (checked after every event; with threads, after every window,
    // now() then at its end) or `limit` passes. Returns pred().
    bool run_until(const std::function<bool()>& pred, Duration limit);

    // Delivers a datagram to node i as if from `from`, which need not be a node (a spoofed or
    // attacking source): after the link latency, or at `at` if later. Replies to an address that
    // is no node are dropped (and seen by the tap).
    void inject(std::size_t i, const Endpoint& from, std::string_view payload,
                TimePoint at = TimePoint{});
    // Sees every unicast datagram a node sends, delivered or not (traffic capture, attack tests).
    using Tap = std::function<void(std::size_t from, const Endpoint& to, std::string_view data)>;
    void set_tap(Tap tap);  // not with set_threads()

    NetworkStats stats() const;  // the threads' counters summed
    // Keeps `p` alive as long as the network, for state that callbacks of its nodes refer to.
    void keep_alive(std::shared_ptr<void> p) { owned_.push_back(std::move(p)); }
    RandomSource& rng() noexcept { return rng_; }

    // Runs the network in windows on `threads` threads (the calling thread is one), its nodes
    // split among partitions that each run on one thread in a window: a node on a fast link
    // goes in the first (the calling thread's own, with no other nodes), any other in the one
    // of the rest with the fewest. Each thread runs its own partitions, then takes the others' not
    // yet started, so that threads running at different speeds end a window together. Call it
    // before adding nodes (and before InternetModel::attach()). With windows (even on one thread) a
    // run differs from a serial one in four ways, all independent of the thread count: events at
    // the same instant run in the order (sender, its count) rather than the order they were queued;
    // each node draws its datagrams' loss and jitter from a random source of its own; a NAT filters
    // a datagram as it arrives rather than as it is sent; and deferred calls run at the window's
    // end (now() is then that end). Needs a positive least one-way delay (the model's latency, or
    // set_min_path_delay()), and no tap and no multicast. After an exception from a run (a node's,
    // a deferred call's) the network is not to be run again.
    void set_threads(unsigned threads);
    unsigned threads() const noexcept { return threads_; }
    // Runs f on the calling thread at the end of the current window, in an order that does not
    // depend on the threads (the event's time, the node, its count of deferred calls), where a
    // node's callback must change state that other nodes' callbacks touch (a list of members, a
    // count of results, net.rng(), another node). Without set_threads() it runs f now. Call it
    // from node i's event or from outside a run.
    void defer(std::size_t i, std::function<void()> f);

private:
    enum class State : std::uint8_t { Alive, Paused, Dead };
    struct SimNode;
    class SimTransport;
    class SimMulticast;
    // 32 bytes, since the queue moves events about: a datagram's bytes wait in its partition's
    // `payloads`, in a slot the event names (and whose buffer the next one reuses).
    struct Event {
        TimePoint at;
        std::uint64_t seq;
        std::uint32_t node;
        std::uint32_t from;     // sender index for deliveries; UINT32_MAX for a wake-up
        std::uint32_t payload;  // slot in its partition's payloads (deliveries)
        bool multicast = false;
        bool probe = false;     // from the sender's second port
        bool to_probe = false;  // to the receiver's second port
        bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    struct Payload {
        std::string data;
        Endpoint source{};  // injected datagrams (from == kInjected)
    };
    struct Deferred {
        TimePoint at;
        std::uint32_t node;
        std::uint64_t count;
        std::function<void()> f;
    };
    // A datagram from one thread's node to another's, handed over at the window's end.
    struct Crossing {
        Event ev;
        std::string data;
        Endpoint source;
    };
    // Written by one partition in a window, read by another in the next (each maybe on another
    // thread): a line of its own.
    struct alignas(64) Outbox {
        std::vector<Crossing> items;
        std::size_t used = 0;
    };
    // A share of the nodes, run by one thread in a window: their events, the datagrams in flight
    // to them, its clock.
    struct alignas(64) Partition {
        EventQueue<Event> queue;
        std::vector<Payload> payloads;
        std::vector<std::uint32_t> free_payloads;
        std::string delivering;  // the payload being handled, swapped out of its slot
        NetworkStats stats;
        TimePoint now{};
        std::vector<Deferred> deferred;
        // The earliest datagram written to an outbox in the last window (max() if none).
        TimePoint crossing_min = TimePoint::max();
        std::exception_ptr error;
        // A free payload slot (its buffer the last datagram's), or a new one.
        std::uint32_t take_payload() {
            if (free_payloads.empty()) {
                payloads.emplace_back();
                return static_cast<std::uint32_t>(payloads.size() - 1);
            }
            const std::uint32_t slot = free_payloads.back();
            free_payloads.pop_back();
            return slot;
        }
    };

    // `probe`: from the sender's second port.
    void send(std::size_t from, const Endpoint& to, std::string_view data, bool probe = false);
    // Queues a delivery of `data` (a copy into a free payload slot, or into an outbox when it
    // crosses to another thread's node during a window). In windows, the sender's count of
    // events (the caller's, for an injected datagram) orders it among those at the same instant.
    void push_delivery(TimePoint at, std::size_t node, std::uint32_t from, std::string_view data,
                       bool multicast = false, const Endpoint& source = {}, bool probe = false,
                       bool to_probe = false);
    void push(Partition& part, const Event& ev, std::string_view data, const Endpoint& source);
    void multicast(std::size_t from, std::string_view data);
    Duration delay(const LinkModel& m, RandomSource& rng);
    Duration delay(const LinkModel& m, std::size_t from, std::size_t to, RandomSource& rng);
    std::size_t part_index(std::size_t node) const;
    Partition& part_of(std::size_t node) { return *parts_[part_index(node)]; }
    // The order among events at the same instant: a global count, or in windows the origin
    // node's own (kInjected for the caller's).
    std::uint64_t next_seq(std::size_t origin);
    void set_now(TimePoint t);
    void handle(Partition& part, const Event& ev);
    // Windows: the least one-way delay, the earliest event queued or in an outbox, one window
    // on every thread, one partition's part of it, the deferred calls after it, and a worker
    // thread's loop.
    Duration window() const;
    TimePoint earliest();
    void run_window(TimePoint end, bool inclusive);
    void run_partition(std::size_t p);
    void run_deferred();
    // Thread t's share of a window: its own partitions, then any of the others' not yet taken.
    void run_claims(std::size_t t);
    bool claim(std::size_t p);  // true if p is not yet taken in this window (and now is)
    void place_partitions();    // homes_, from the partitions' node counts
    void worker(std::size_t t);
    bool run_windows(TimePoint until, const std::function<bool()>* pred);
    // A NAT mapping: the remote node, whether at its second port, and whether ours.
    static std::uint32_t nat_key(std::size_t remote, bool remote_probe, bool local_probe) {
        return static_cast<std::uint32_t>(remote * 4 + (remote_probe ? 2 : 0) +
                                          (local_probe ? 1 : 0));
    }
    bool nat_admits(const SimNode& to, std::uint32_t key, TimePoint now) const;
    // The node at `to`, and whether at its second port.
    std::optional<std::pair<std::size_t, bool>> find_endpoint(const Endpoint& to) const;
    void schedule_wake(std::size_t i);
    bool step(TimePoint until);
    void rejoin(std::size_t i, const std::vector<BootstrapPeer>& peers, int attempts_left);

    std::uint64_t seed_;
    LinkModel model_;
    SeededRandom rng_;
    TimePoint now_{};
    std::vector<std::unique_ptr<SimNode>> nodes_;
    std::unordered_map<Endpoint, std::size_t> by_endpoint_;
    std::unordered_map<Endpoint, std::size_t> by_probe_endpoint_;  // second ports
    bool probe_ports_ = true;
    std::vector<std::unique_ptr<Partition>> parts_;
    std::uint64_t next_seq_ = 0;
    std::uint64_t injected_ = 0;  // datagrams injected, in windows: their count
    // Windows (set_threads()): outboxes_[parity][from * partitions + to], the parity of the window
    // running (its datagrams go to that parity, the last window's are drained), its end.
    bool windows_ = false;
    bool in_window_ = false;
    std::array<std::vector<Outbox>, 2> outboxes_;
    std::uint64_t window_count_ = 0;
    TimePoint window_end_{};
    bool window_inclusive_ = false;
    Duration min_path_delay_{};
    Duration min_node_latency_ = Duration::max();  // the least latency of set_node_model()s
    std::function<bool(std::size_t)> fast_link_;
    std::vector<std::size_t> part_nodes_;  // nodes in each partition
    // Partitions per thread, besides the first (the nodes on fast links): enough that one is a
    // small part of a thread's window, so that the threads end it close together; each costs
    // its outboxes, drained every window.
    static constexpr unsigned kPartsPerThread = 4;
    unsigned threads_ = 1;
    std::vector<std::vector<std::uint32_t>> homes_;  // each thread's own partitions
    bool homes_stale_ = false;                       // a node added since place_partitions()
    std::unique_ptr<std::atomic<std::uint64_t>[]> claimed_;  // the window that took each
    std::vector<std::thread> workers_;
    std::atomic<std::uint64_t> window_gen_{0};  // a worker runs a window when it moves
    std::atomic<unsigned> workers_done_{0};
    std::atomic<bool> stopping_{false};
    std::vector<std::shared_ptr<void>> owned_;
    Tap tap_;
    PathDelay path_delay_;
    Duration nat_timeout_ = std::chrono::seconds(60);
    std::function<void(std::size_t)> add_hook_;
};

// Adds n nodes, each bootstrapping through a random node that has already joined (the first
// added node, if the network was empty, is the seed), starting one every `spacing`, retrying
// through another member when a bootstrap fails. Runs until all have joined or `limit` passes.
// Returns the indices of the nodes that joined.
std::vector<std::size_t> grow(Network& net, std::size_t n, const NodeConfig& config = {},
                              Duration spacing = std::chrono::milliseconds(2),
                              Duration limit = std::chrono::minutes(2));

}  // namespace kad::sim
