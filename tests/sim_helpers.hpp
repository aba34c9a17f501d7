#pragma once
// Shared fixtures for the tests on the virtual network.

#include <chrono>
#include <memory>
#include <optional>

#include "kad/sim/network.hpp"

namespace kad::test {

// A LAN-like link: a latency and a uniform jitter on top of it.
inline sim::LinkModel lan(Duration latency = std::chrono::milliseconds(1),
                          Duration jitter = std::chrono::microseconds(500)) {
    sim::LinkModel m;
    m.latency = latency;
    m.jitter = jitter;
    return m;
}

// Node `who` bootstraps through node `via` (its ID given): the result, or nothing if it took
// longer than `limit`.
inline std::optional<BootstrapResult> bootstrap(sim::Network& net, std::size_t who, std::size_t via,
                                                Duration limit = std::chrono::seconds(10)) {
    // Shared with the callback, which may come after this returns.
    auto joined = std::make_shared<std::optional<BootstrapResult>>();
    net.with(who, [&](Node& n, TimePoint now) {
        n.bootstrap(now, {{net.endpoint(via), net.node(via).id()}},
                    [joined](const BootstrapResult& r) { *joined = r; });
    });
    net.run_until([&] { return joined->has_value(); }, limit);
    return *joined;
}

}  // namespace kad::test
