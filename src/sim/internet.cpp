#include "kad/sim/internet.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kad::sim {

namespace {

using namespace std::chrono_literals;

double ms(Duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

Duration from_ms(double v) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(v));
}

std::uint64_t mix(std::uint64_t x) {  // one step of splitmix64 from x
    return mix64(x + 0x9e3779b97f4a7c15ULL);
}

double normal(RandomSource& rng) {  // Box-Muller
    const double u = 1.0 - rng.uniform_real();
    const double v = rng.uniform_real();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
}

// Gamma(shape >= 1, 1): Marsaglia and Tsang (2000).
double gamma(RandomSource& rng, double shape) {
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        double x = 0, v = 0;
        do {
            x = normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        const double u = 1.0 - rng.uniform_real();
        if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
}

// Weibull scale from median and shape: median = scale * (ln 2)^(1/shape).
double weibull_scale(Duration median, double shape) {
    return ms(median) / std::pow(std::numbers::ln2, 1.0 / shape);
}

double percentile_of(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

// Where hosts are, in ms of round trip before scaling: four regions placed so that the round
// trips between their centres are roughly those between Europe, North America, Asia and South
// America (90, 250, 200, 170, 130 ms), holding shares of the hosts that follow the mainline
// DHT's geography (Europe first, then Asia). A plane cannot hold every distance exactly; this is
// a shape, and the median is calibrated afterwards.
struct Region {
    double x, y, share;
};
constexpr Region kRegions[] = {
    {0, 0, 0.40},       // Europe
    {232, 94, 0.30},    // Asia
    {90, 0, 0.20},      // North America
    {173, -100, 0.10},  // South America
};
constexpr double kRegionSpread = 15;  // ms, per axis
constexpr double kHeightMedian = 10;  // ms of access link, before scaling
constexpr double kHeightSigma = 0.7;  // log-normal

}  // namespace

Duration weibull(RandomSource& rng, Duration median, double shape) {
    const double u = 1.0 - rng.uniform_real();  // in (0, 1]
    return from_ms(weibull_scale(median, shape) * std::pow(-std::log(u), 1.0 / shape));
}

std::optional<InternetParams> internet_preset(const std::string& name) {
    if (name == "mainline") {
        InternetParams p;
        p.rtt_median = 150ms;
        p.slow_share = 0.03;
        p.slow_min = 1.5;
        p.slow_alpha = 1.5;
        p.slow_max = 10;
        p.jitter = 5ms;
        p.loss = 0.01;
        p.nat_share = 0.4;
        p.nat_timeout = 60s;
        p.session_median = std::chrono::minutes(200);
        p.session_shape = 0.42;
        p.off_median = std::chrono::minutes(200);
        p.off_shape = 0.42;
        return p;
    }
    return std::nullopt;
}

std::vector<std::string> internet_presets() {
    return {"mainline"};
}

InternetModel::InternetModel(std::uint64_t seed, const InternetParams& params)
    : seed_(seed), params_(params) {
    if (params_.rtt_median <= Duration::zero()) return;
    // Calibrate: the scale of positions and heights that puts the median pair round trip, slow
    // hosts' extras included, at rtt_median. Sampled over hosts that are not nodes (indices far
    // above any network), so that no node's coordinates are drawn early.
    constexpr std::size_t kPairs = 100000;
    SeededRandom rng(mix(seed ^ 0x5ca1ab1eULL));
    std::vector<std::pair<double, double>> pairs;  // (base, extra)
    pairs.reserve(kPairs);
    for (std::size_t k = 0; k < kPairs; ++k) {
        const Coord a = draw((1ULL << 40) + rng.next_u64() % (1ULL << 40));
        const Coord b = draw((1ULL << 40) + rng.next_u64() % (1ULL << 40));
        pairs.emplace_back(std::hypot(a.x - b.x, a.y - b.y) + (a.height + b.height),
                           a.slow + b.slow);
    }
    const double target = ms(params_.rtt_median);
    double lo = 0, hi = 16;
    for (int it = 0; it < 60; ++it) {
        const double mid = (lo + hi) / 2;
        std::size_t below = 0;
        for (const auto& [base, extra] : pairs) below += mid * base + extra < target ? 1 : 0;
        (below * 2 > pairs.size() ? lo : hi) = mid;
    }
    scale_ = (lo + hi) / 2;
}

InternetModel::Coord InternetModel::draw(std::size_t i) const {
    SeededRandom rng(mix(seed_ ^ mix(i)));
    Coord c;
    double pick = rng.uniform_real();
    const Region* r = &kRegions[0];
    for (const Region& region : kRegions) {
        r = &region;
        if (pick < region.share) break;
        pick -= region.share;
    }
    c.x = static_cast<float>(r->x + kRegionSpread * normal(rng));
    c.y = static_cast<float>(r->y + kRegionSpread * normal(rng));
    c.height = static_cast<float>(kHeightMedian * std::exp(kHeightSigma * normal(rng)));
    if (rng.chance(params_.slow_share)) {  // Pareto, in final ms
        const double u = 1.0 - rng.uniform_real();
        const double extra = params_.slow_min * std::pow(u, -1.0 / params_.slow_alpha);
        c.slow = static_cast<float>(std::min(extra, params_.slow_max) * ms(params_.rtt_median));
    }
    c.nat = rng.chance(params_.nat_share);
    c.drawn = true;
    return c;
}

const InternetModel::Coord& InternetModel::coord(std::size_t i) const {
    if (i >= coords_.size()) coords_.resize(std::max(i + 1, coords_.size() * 2));
    if (!coords_[i].drawn) {
        coords_[i] = draw(i);
        const float h = coords_[i].height;
        if (min_height_ == 0 || h < min_height_) min_height_ = h;
    }
    return coords_[i];
}

Duration InternetModel::min_one_way() const {
    // rtt() sums non-negative terms onto the two heights, one at least min_height_ and the
    // other at least kFastHeight, with the same rounding; less a nanosecond for the last digit.
    const float least = min_height_ == 0 ? kFastHeight : min_height_;
    const Duration rtt = from_ms(scale_ * static_cast<double>(least + kFastHeight));
    return std::max(Duration::zero(), rtt / 2 - Duration(1));
}

Duration InternetModel::rtt(std::size_t a, std::size_t b) const {
    if (a == b) return Duration::zero();
    const Coord p = coord(a);  // copies: the second call may grow the vector
    const Coord q = coord(b);
    // Each sum in an order that does not depend on which end is a: the same from both ends.
    const double base = std::hypot(p.x - q.x, p.y - q.y) + (p.height + q.height);
    return from_ms(scale_ * base + (p.slow + q.slow));
}

double InternetModel::sampled_rtt_ms(std::size_t nodes, double percentile,
                                     std::uint64_t seed) const {
    constexpr std::size_t kPairs = 20000;
    if (nodes < 2) return 0;
    SeededRandom rng(seed);
    std::vector<double> v;
    v.reserve(kPairs);
    while (v.size() < kPairs) {
        const std::size_t a = rng.uniform(nodes);
        const std::size_t b = rng.uniform(nodes);
        if (a != b) v.push_back(ms(rtt(a, b)));
    }
    return percentile_of(std::move(v), percentile);
}

void InternetModel::attach(Network& net, const std::shared_ptr<InternetModel>& model) {
    InternetModel* m = model.get();
    net.keep_alive(model);
    if (m->params_.rtt_median > Duration::zero()) {
        net.set_path_delay([m](std::size_t from, std::size_t to) { return m->rtt(from, to) / 2; });
    }
    net.set_nat_timeout(m->params_.nat_timeout);
    // The first node stands for the public bootstrap routers: never behind NAT.
    // Drawing a node's coordinates here, as it is added, also keeps rtt() from writing while
    // threads read it (Network::set_threads()).
    auto place = [&net, m](std::size_t i) {
        net.set_nat(i, i != 0 && m->behind_nat(i));
        net.set_min_path_delay(m->min_one_way());
    };
    if (m->params_.rtt_median > Duration::zero()) {
        net.set_fast_link([m](std::size_t i) { return m->fast_link(i); });
    }
    for (std::size_t i = 0; i < net.size(); ++i) place(i);
    net.set_add_hook(place);
}

// ---- churn ----

Churn::Churn(Network& net, std::uint64_t seed, const InternetParams& params)
    : net_(net), rng_(mix(seed ^ 0xc0ffeeULL)), params_(params) {}

Duration Churn::residual_session() {
    // A node online at a random moment is in a session drawn with probability proportional to
    // its length, and is uniformly far into it. For Weibull(k, scale) the length-biased length
    // is scale * G^(1/k) with G ~ Gamma(1 + 1/k).
    const double k = params_.session_shape;
    const double len =
        weibull_scale(params_.session_median, k) * std::pow(gamma(rng_, 1.0 + 1.0 / k), 1.0 / k);
    return from_ms(len * rng_.uniform_real());
}

void Churn::start() {
    const std::size_t n = net_.size();
    held_.resize(n, 0);
    leave_pending_.resize(n, false);
    session_from_.resize(n, net_.now());
    returned_.resize(n, false);
    if (params_.session_median <= Duration::zero()) return;
    for (std::size_t i = 0; i < n; ++i) {
        if (!net_.alive(i)) continue;
        events_.push({net_.now() + residual_session(), static_cast<std::uint32_t>(i), true});
    }
}

void Churn::leave(std::size_t i) {
    if (!net_.alive(i)) return;  // killed or paused by someone else: not ours to churn
    if (returned_[i]) completed_.push_back(net_.now() - session_from_[i]);
    net_.persist(i);  // what its journal holds by now
    net_.crash(i);
    ++departures_;
    if (params_.off_median > Duration::zero()) {
        events_.push({net_.now() + weibull(rng_, params_.off_median, params_.off_shape),
                      static_cast<std::uint32_t>(i), false});
    }
}

void Churn::apply(const Event& ev) {
    const std::size_t i = ev.node;
    if (ev.leave) {
        if (held_[i] > 0) {
            leave_pending_[i] = true;
        } else {
            leave(i);
        }
        return;
    }
    if (!net_.crashed(i)) return;
    net_.restart(i);
    ++returns_;
    returned_[i] = true;
    session_from_[i] = net_.now();
    events_.push(
        {net_.now() + weibull(rng_, params_.session_median, params_.session_shape), ev.node, true});
}

void Churn::apply_due() {
    while (!events_.empty() && events_.top().at <= net_.now()) {
        const Event ev = events_.top();
        events_.pop();
        apply(ev);
    }
}

void Churn::run_until(TimePoint until) {
    run_until([] { return false; }, until - net_.now());
}

bool Churn::run_until(const std::function<bool()>& pred, Duration limit) {
    const TimePoint deadline = net_.now() + limit;
    for (;;) {
        const TimePoint next = events_.empty() ? deadline : std::min(deadline, events_.top().at);
        // The nodes' callbacks may queue an earlier event (release()): stop for it too.
        net_.run_until([&] { return pred() || (!events_.empty() && events_.top().at < next); },
                       next - net_.now());
        if (pred()) return true;
        if (net_.now() >= deadline) return false;
        apply_due();
    }
}

void Churn::hold(std::size_t i) {
    if (i >= held_.size()) return;
    ++held_[i];
}

void Churn::release(std::size_t i) {
    if (i >= held_.size() || held_[i] == 0) return;
    if (--held_[i] == 0 && leave_pending_[i]) {
        leave_pending_[i] = false;
        // Not here: release() may run inside the node's own callback.
        events_.push({net_.now(), static_cast<std::uint32_t>(i), true});
    }
}

std::size_t Churn::online() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < net_.size(); ++i) n += net_.alive(i) ? 1 : 0;
    return n;
}

double Churn::availability() const {
    if (params_.session_median <= Duration::zero()) return 1.0;
    if (params_.off_median <= Duration::zero()) return 0.0;
    const auto mean = [](Duration median, double shape) {
        return weibull_scale(median, shape) * std::tgamma(1.0 + 1.0 / shape);
    };
    const double on = mean(params_.session_median, params_.session_shape);
    const double off = mean(params_.off_median, params_.off_shape);
    return on / (on + off);
}

}  // namespace kad::sim
