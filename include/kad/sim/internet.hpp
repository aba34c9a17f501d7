#pragma once
// A simulated Internet for kad::sim::Network: round trips from synthetic network coordinates,
// hosts behind NAT, and churn (sessions and off-times drawn from measured distributions).
//
// InternetModel gives every node index a position in a plane and a "height" (its access link),
// as in Vivaldi's height-vector model (Dabek, Cox, Kaashoek, Morris, SIGCOMM 2004): the round
// trip between a and b is |x_a - x_b| + h_a + h_b, so the triangle inequality holds, and a few
// hosts on slow links (heavy-tailed heights) give the long tail. A node's coordinates are drawn
// from (seed, index) alone, the first time it is asked for: memory is O(nodes), a pair costs a
// subtraction, a hypot and two additions, and the answer does not depend on the order of calls.
// Positions and heights are scaled so that the median pair round trip is `rtt_median`.
// docs/BENCHMARKS.md ("A simulated Internet") gives the sources of the numbers.
//
// Churn crashes nodes at the end of their sessions and restarts them (with what their state
// directory kept) after an off-time: the population stays near its long-run share of online
// nodes, and the IDs, like those of real clients, come back.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "kad/random.hpp"
#include "kad/sim/network.hpp"

namespace kad::sim {

struct InternetParams {
    // Round trips. The median pair round trip; every other number here is relative to it.
    Duration rtt_median = std::chrono::milliseconds(150);
    // Share of hosts on a slow access link (mobile, satellite, a congested uplink with deep
    // buffers): their height gains a Pareto-distributed extra of at least `slow_min` times the
    // median, with tail index `slow_alpha`, and at most `slow_max` times the median.
    double slow_share = 0.03;
    double slow_min = 1.5;
    double slow_alpha = 1.5;
    double slow_max = 10;
    // Per-datagram jitter, added uniformly in [0, jitter] to the one-way delay (rtt / 2).
    Duration jitter = std::chrono::milliseconds(5);
    double loss = 0.0;
    // Hosts behind NAT (or a stateful firewall): they receive a datagram only from an endpoint
    // they have sent to within `nat_timeout`.
    double nat_share = 0.0;
    Duration nat_timeout = std::chrono::seconds(60);
    // Churn: Weibull session lengths and off-times, given by median and shape. A zero median
    // turns churn off.
    Duration session_median = Duration::zero();
    double session_shape = 0.42;
    Duration off_median = Duration::zero();
    double off_shape = 0.42;
};

// Named settings: "lan" (today's kadsim defaults: 1 ms one way, no NAT, no churn), "mainline"
// (the BitTorrent mainline DHT as measured). Returns nothing for an unknown name.
std::optional<InternetParams> internet_preset(const std::string& name);
std::vector<std::string> internet_presets();

class InternetModel {
public:
    InternetModel(std::uint64_t seed, const InternetParams& params);

    const InternetParams& params() const noexcept { return params_; }
    // The pair round trip: symmetric, deterministic for the seed, without jitter.
    Duration rtt(std::size_t a, std::size_t b) const;
    bool behind_nat(std::size_t i) const { return coord(i).nat; }
    // Whether node i's access link is fast (its height in the lowest third): paths between two
    // such nodes may be shorter than min_one_way().
    bool fast_link(std::size_t i) const { return coord(i).height < kFastHeight; }
    // The least one-way delay (half the round trip, before jitter) between two of the nodes
    // whose coordinates are drawn, not both on fast links: at least the least height drawn plus
    // the least not fast.
    Duration min_one_way() const;
    // A percentile (0 to 100) of the round trip, in ms, over 20,000 random pairs of distinct
    // nodes in [0, nodes), drawn from `seed`.
    double sampled_rtt_ms(std::size_t nodes, double percentile, std::uint64_t seed) const;

    // The link model to build the network with: no flat latency, the jitter and the loss.
    LinkModel link_model() const {
        return {.latency = Duration::zero(), .jitter = params_.jitter, .loss = params_.loss};
    }
    // Puts the model on `net`: the pair delay (if rtt_median > 0), the NAT timeout, and each
    // node, those already there and those added later, behind NAT or not. Node 0 (grow()'s
    // seed, standing for the public bootstrap routers) is never behind NAT.
    static void attach(Network& net, const std::shared_ptr<InternetModel>& model);

private:
    // The lowest third of the heights' log-normal (median 10 ms, sigma 0.7), before scaling.
    static constexpr float kFastHeight = 7.4F;
    struct Coord {
        float x = 0, y = 0, height = 0;  // ms of round trip, before scaling
        float slow = 0;                  // a slow access link's extra, in final ms
        bool nat = false;
        bool drawn = false;
    };
    const Coord& coord(std::size_t i) const;
    Coord draw(std::size_t i) const;

    std::uint64_t seed_;
    InternetParams params_;
    double scale_ = 1.0;                 // makes the median pair round trip rtt_median
    mutable std::vector<Coord> coords_;  // drawn on first use (not thread-safe)
    mutable float min_height_ = 0;       // the least height drawn (0: none yet)
};

// Weibull with the given median and shape, by inversion.
Duration weibull(RandomSource& rng, Duration median, double shape);

// Crashes nodes at the end of their sessions and restarts them after an off-time. A returning
// node comes back as a restarted client does: its ID, its stores and the contacts its state
// directory kept (Network::persist is taken at the moment it leaves, which is what the journal
// holds by then). Drive the network through run_until()/run_for() here so that churn happens
// on time. Nodes held (hold()) stay until released: a node measuring a lookup does not leave
// in the middle of it.
class Churn {
public:
    Churn(Network& net, std::uint64_t seed, const InternetParams& params);

    // Starts churn over nodes [0, net.size()): each live node gets the remaining part of a
    // session already under way (drawn from the stationary distribution, so departures start at
    // their steady rate rather than in a burst of short first sessions).
    void start();
    void run_until(TimePoint until);
    void run_for(Duration d) { run_until(net_.now() + d); }
    bool run_until(const std::function<bool()>& pred, Duration limit);

    void hold(std::size_t i);
    void release(std::size_t i);

    std::uint64_t departures() const noexcept { return departures_; }
    std::uint64_t returns() const noexcept { return returns_; }
    std::size_t online() const;
    // The long-run share of nodes online: E[session] / (E[session] + E[off]).
    double availability() const;
    // Lengths of the sessions that began with a return and have ended (not the first ones).
    const std::vector<Duration>& completed_sessions() const noexcept { return completed_; }

private:
    struct Event {
        TimePoint at;
        std::uint32_t node;
        bool leave;
        bool operator>(const Event& o) const { return at != o.at ? at > o.at : node > o.node; }
    };
    void apply(const Event& ev);
    void apply_due();  // every event due by the network's now
    void leave(std::size_t i);
    Duration residual_session();

    Network& net_;
    SeededRandom rng_;
    InternetParams params_;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
    std::vector<std::uint16_t> held_;
    std::vector<bool> leave_pending_;      // its session ended while held
    std::vector<TimePoint> session_from_;  // TimePoint{} for a first, partly seen session
    std::vector<bool> returned_;
    std::vector<Duration> completed_;
    std::uint64_t departures_ = 0, returns_ = 0;
};

}  // namespace kad::sim
